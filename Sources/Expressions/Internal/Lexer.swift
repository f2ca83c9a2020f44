/// One token of an expression.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case integer(Int)
        case number(Double)
        case string(String)
        case identifier(String)
        case dollar, dot, comma, colon, question, questionQuestion
        case leftParen, rightParen, leftBracket, rightBracket, leftBrace, rightBrace
        case plus, minus, star, slash, percent, bang
        case equalEqual, bangEqual, less, lessEqual, greater, greaterEqual
        case ampersandAmpersand, pipePipe
        case end
    }

    var kind: Kind
    var span: Span

    /// How the token reads in a message: `")"`, `"+"`, `string "a"`, `end of expression`.
    var quoted: String {
        switch kind {
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "string \(ValueText.quote(value))"
        case .identifier(let name): "\"\(name)\""
        case .end: "end of expression"
        default: "\"\(kind.symbol)\""
        }
    }
}

extension Token.Kind {
    /// The punctuation or operator text of the token.
    var symbol: String {
        switch self {
        case .dollar: "$"
        case .dot: "."
        case .comma: ","
        case .colon: ":"
        case .question: "?"
        case .questionQuestion: "??"
        case .leftParen: "("
        case .rightParen: ")"
        case .leftBracket: "["
        case .rightBracket: "]"
        case .leftBrace: "{"
        case .rightBrace: "}"
        case .plus: "+"
        case .minus: "-"
        case .star: "*"
        case .slash: "/"
        case .percent: "%"
        case .bang: "!"
        case .equalEqual: "=="
        case .bangEqual: "!="
        case .less: "<"
        case .lessEqual: "<="
        case .greater: ">"
        case .greaterEqual: ">="
        case .ampersandAmpersand: "&&"
        case .pipePipe: "||"
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): value
        case .identifier(let name): name
        case .end: ""
        }
    }
}

/// Turns source text into tokens on demand, so that an expression embedded in
/// a template can stop at its closing `}}` without lexing the text after it.
struct Lexer {
    let scalars: [Unicode.Scalar]
    private(set) var position: Int

    init(scalars: [Unicode.Scalar], position: Int) {
        self.scalars = scalars
        self.position = position
    }

    /// The scalar at `offset`, if any.
    func scalar(at offset: Int) -> Unicode.Scalar? {
        offset >= 0 && offset < scalars.count ? scalars[offset] : nil
    }

    mutating func next() throws(ExpressionError) -> Token {
        while let c = scalar(at: position), c == " " || c == "\t" || c == "\n" || c == "\r" {
            position += 1
        }
        let start = position
        guard let c = scalar(at: position) else {
            return Token(kind: .end, span: Span(start: start, end: start))
        }
        func token(_ kind: Token.Kind, length: Int) -> Token {
            position = start + length
            return Token(kind: kind, span: Span(start: start, end: position))
        }
        let following = scalar(at: position + 1)
        switch c {
        case "$": return token(.dollar, length: 1)
        case ".": return token(.dot, length: 1)
        case ",": return token(.comma, length: 1)
        case ":": return token(.colon, length: 1)
        case "(": return token(.leftParen, length: 1)
        case ")": return token(.rightParen, length: 1)
        case "[": return token(.leftBracket, length: 1)
        case "]": return token(.rightBracket, length: 1)
        case "{": return token(.leftBrace, length: 1)
        case "}": return token(.rightBrace, length: 1)
        case "+": return token(.plus, length: 1)
        case "-": return token(.minus, length: 1)
        case "*": return token(.star, length: 1)
        case "/": return token(.slash, length: 1)
        case "%": return token(.percent, length: 1)
        case "?": return following == "?" ? token(.questionQuestion, length: 2) : token(.question, length: 1)
        case "!": return following == "=" ? token(.bangEqual, length: 2) : token(.bang, length: 1)
        case "<": return following == "=" ? token(.lessEqual, length: 2) : token(.less, length: 1)
        case ">": return following == "=" ? token(.greaterEqual, length: 2) : token(.greater, length: 1)
        case "=":
            if following == "=" { return token(.equalEqual, length: 2) }
            throw .syntax("unexpected \"=\" (use \"==\" to compare)", at: start)
        case "&":
            if following == "&" { return token(.ampersandAmpersand, length: 2) }
            throw .syntax("unexpected \"&\" (use \"&&\")", at: start)
        case "|":
            if following == "|" { return token(.pipePipe, length: 2) }
            throw .syntax("unexpected \"|\" (use \"||\")", at: start)
        case "\"", "'":
            return try lexString(quote: c)
        case "0"..."9":
            return try lexNumber()
        default:
            if Lexer.isIdentifierStart(c) {
                var end = position + 1
                while let d = scalar(at: end), Lexer.isIdentifierContinue(d) { end += 1 }
                let name = String(String.UnicodeScalarView(scalars[start..<end]))
                return token(.identifier(name), length: end - start)
            }
            throw .syntax("unexpected character \(ValueText.quote(String(c)))", at: start)
        }
    }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_"
    }

    static func isIdentifierContinue(_ c: Unicode.Scalar) -> Bool {
        isIdentifierStart(c) || ("0"..."9").contains(c)
    }

    private mutating func lexNumber() throws(ExpressionError) -> Token {
        let start = position
        var end = position
        func digits() { while let d = scalar(at: end), ("0"..."9").contains(d) { end += 1 } }
        digits()
        var isInteger = true
        if scalar(at: end) == ".", let d = scalar(at: end + 1), ("0"..."9").contains(d) {
            isInteger = false
            end += 1
            digits()
        }
        if let e = scalar(at: end), e == "e" || e == "E" {
            isInteger = false
            end += 1
            if let sign = scalar(at: end), sign == "+" || sign == "-" { end += 1 }
            let exponentStart = end
            digits()
            if end == exponentStart {
                throw .syntax("expected digits in the exponent of a number", at: end)
            }
        }
        if let d = scalar(at: end), Lexer.isIdentifierStart(d) {
            throw .syntax("unexpected \(ValueText.quote(String(d))) after a number", at: end)
        }
        let text = String(String.UnicodeScalarView(scalars[start..<end]))
        position = end
        let span = Span(start: start, end: end)
        if isInteger {
            guard let value = Int(text) else {
                throw .syntax("integer \(text) is too large (the range is \(Int.min)...\(Int.max))", at: start)
            }
            return Token(kind: .integer(value), span: span)
        }
        guard let value = Double(text), value.isFinite else {
            throw .syntax("number \(text) is out of range", at: start)
        }
        return Token(kind: .number(value), span: span)
    }

    private mutating func lexString(quote: Unicode.Scalar) throws(ExpressionError) -> Token {
        let start = position
        var index = position + 1
        var text = String.UnicodeScalarView()
        while true {
            guard let c = scalar(at: index) else {
                throw .syntax("unterminated string starting", at: start)
            }
            if c == quote {
                index += 1
                break
            }
            if c != "\\" {
                text.append(c)
                index += 1
                continue
            }
            guard let escaped = scalar(at: index + 1) else {
                throw .syntax("unterminated string starting", at: start)
            }
            switch escaped {
            case "\"", "'", "\\", "/": text.append(escaped)
            case "n": text.append("\n")
            case "t": text.append("\t")
            case "r": text.append("\r")
            case "b": text.append("\u{08}")
            case "f": text.append("\u{0C}")
            case "u":
                let (scalar, length) = try unicodeEscape(at: index)
                text.append(scalar)
                index += length
                continue
            default:
                throw .syntax("invalid escape \(ValueText.quote("\\" + String(escaped)))", at: index)
            }
            index += 2
        }
        position = index
        return Token(kind: .string(String(text)), span: Span(start: start, end: index))
    }

    /// Reads `\uXXXX` (with a following `\uXXXX` low surrogate when needed) or
    /// `\u{X…}` at `index`; returns the scalar and how many source scalars it took.
    private func unicodeEscape(at index: Int) throws(ExpressionError) -> (Unicode.Scalar, Int) {
        func hex(from: Int, count: Int) -> UInt32? {
            guard count > 0, from + count <= scalars.count else { return nil }
            var value: UInt32 = 0
            for offset in from..<(from + count) {
                guard let digit = UInt32(String(scalars[offset]), radix: 16) else { return nil }
                value = value * 16 + digit
            }
            return value
        }
        let invalid = ExpressionError.syntax("invalid unicode escape", at: index)
        if scalar(at: index + 2) == "{" {
            var end = index + 3
            while let c = scalar(at: end), c != "}" { end += 1 }
            guard scalar(at: end) == "}", end - (index + 3) <= 8,
                let value = hex(from: index + 3, count: end - (index + 3)),
                let result = Unicode.Scalar(value)
            else { throw invalid }
            return (result, end + 1 - index)
        }
        guard let high = hex(from: index + 2, count: 4) else { throw invalid }
        if let result = Unicode.Scalar(high) { return (result, 6) }
        // A UTF-16 surrogate pair written as two escapes.
        guard (0xD800...0xDBFF).contains(high), scalar(at: index + 6) == "\\", scalar(at: index + 7) == "u",
            let low = hex(from: index + 8, count: 4), (0xDC00...0xDFFF).contains(low),
            let result = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        else { throw invalid }
        return (result, 12)
    }
}
