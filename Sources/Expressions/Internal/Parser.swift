import JSONSchemaKit

/// A recursive-descent parser with precedence climbing for the infix
/// operators. It reads tokens on demand from a ``Lexer`` and builds a
/// ``Node`` tree, folding constant sub-expressions as it goes.
struct Parser {
    private var lexer: Lexer
    /// The token being looked at.
    private(set) var current: Token

    /// A parser over `scalars` starting at `position`.
    init(scalars: [Unicode.Scalar], position: Int) throws(ExpressionError) {
        lexer = Lexer(scalars: scalars, position: position)
        current = try lexer.next()
    }

    /// Parses a whole standalone expression: one expression, then the end of the text.
    static func parseStandalone(_ source: String) throws(ExpressionError) -> Node {
        var parser = try Parser(scalars: Array(source.unicodeScalars), position: 0)
        let (node, _) = try parser.parseExpression()
        if parser.current.kind != .end {
            throw .syntax(parser.unexpectedAfterExpression(), at: parser.current.span.start)
        }
        return node
    }

    /// What to say when an expression is followed by a token that cannot continue it.
    func unexpectedAfterExpression() -> String {
        switch current.kind {
        case .rightParen, .rightBracket, .rightBrace: "unexpected \(current.quoted)"
        default: "expected an operator or the end of the expression"
        }
    }

    // MARK: Grammar

    /// expression = coalesceless ternary; see docs/expressions.md for the grammar.
    mutating func parseExpression() throws(ExpressionError) -> (Node, Span) {
        try parseConditional(after: nil)
    }

    /// conditional = binary [ "?" conditional ":" conditional ]
    private mutating func parseConditional(after previous: Token?) throws(ExpressionError) -> (Node, Span) {
        let (condition, conditionSpan) = try parseBinary(minimumPrecedence: 1, after: previous)
        guard current.kind == .question else { return (condition, conditionSpan) }
        let question = try advance()
        let (whenTrue, _) = try parseConditional(after: question)
        let colon = try expect(.colon)
        let (whenFalse, falseSpan) = try parseConditional(after: colon)
        let span = conditionSpan.through(falseSpan)
        if let value = condition.literalValue { return (value.isTruthy ? whenTrue : whenFalse, span) }
        return (.conditional(condition, whenTrue, whenFalse, span), span)
    }

    /// Binding strength of an infix operator token and whether it groups to the right.
    private static func infix(_ kind: Token.Kind) -> (precedence: Int, rightAssociative: Bool)? {
        switch kind {
        case .pipePipe: (1, false)
        case .ampersandAmpersand: (2, false)
        case .equalEqual, .bangEqual: (3, false)
        case .less, .lessEqual, .greater, .greaterEqual: (4, false)
        case .questionQuestion: (5, true)
        case .plus, .minus: (6, false)
        case .star, .slash, .percent: (7, false)
        default: nil
        }
    }

    /// Precedence climbing over the infix operators of at least `minimumPrecedence`.
    private mutating func parseBinary(minimumPrecedence: Int, after previous: Token?) throws(ExpressionError) -> (
        Node, Span
    ) {
        var (left, leftSpan) = try parseUnary(after: previous)
        while let (precedence, rightAssociative) = Parser.infix(current.kind), precedence >= minimumPrecedence {
            let operatorToken = try advance()
            let (right, rightSpan) = try parseBinary(
                minimumPrecedence: rightAssociative ? precedence : precedence + 1, after: operatorToken)
            let span = leftSpan.through(rightSpan)
            left = Parser.makeInfix(operatorToken.kind, left, right, span)
            leftSpan = span
        }
        return (left, leftSpan)
    }

    private static func makeInfix(_ kind: Token.Kind, _ left: Node, _ right: Node, _ span: Span) -> Node {
        let node: Node
        switch kind {
        case .pipePipe: node = .or(left, right, span)
        case .ampersandAmpersand: node = .and(left, right, span)
        case .questionQuestion: node = .coalesce(left, right, span)
        default:
            guard let op = BinaryOperator(rawValue: kind.symbol) else { return .or(left, right, span) }
            node = .binary(op, left, right, span)
        }
        return fold(node, inputs: [left, right])
    }

    /// unary = ( "!" | "-" ) unary | postfix
    private mutating func parseUnary(after previous: Token?) throws(ExpressionError) -> (Node, Span) {
        let op: UnaryOperator
        switch current.kind {
        case .bang: op = .not
        case .minus: op = .negate
        default: return try parsePostfix(after: previous)
        }
        let operatorToken = try advance()
        let (operand, operandSpan) = try parseUnary(after: operatorToken)
        let span = operatorToken.span.through(operandSpan)
        return (Parser.fold(.unary(op, operand, span), inputs: [operand]), span)
    }

    /// postfix = primary { "." name | "[" expression "]" }
    private mutating func parsePostfix(after previous: Token?) throws(ExpressionError) -> (Node, Span) {
        var (node, span) = try parsePrimary(after: previous)
        while true {
            switch current.kind {
            case .dot:
                let dot = try advance()
                guard case .identifier(let name) = current.kind else {
                    throw .syntax("expected member name after \".\"", at: current.span.start)
                }
                let nameToken = try advance()
                span = span.through(nameToken.span)
                node = Parser.fold(.member(node, name, span), inputs: [node])
                _ = dot
            case .leftBracket:
                let bracket = try advance()
                let (index, _) = try parseConditional(after: bracket)
                let close = try expect(.rightBracket)
                span = span.through(close.span)
                switch index.literalValue {
                case .integer(let offset)?: node = .element(node, offset, span)
                case .string(let name)?: node = .member(node, name, span)
                default: node = .subscripted(node, index, span)
                }
                node = Parser.fold(node, inputs: [node.baseOfAccess, index])
            default:
                return (node, span)
            }
        }
    }

    /// primary = literal | "$" | call | "(" expression ")" | array | object
    private mutating func parsePrimary(after previous: Token?) throws(ExpressionError) -> (Node, Span) {
        let token = current
        switch token.kind {
        case .integer(let value):
            _ = try advance()
            return (.literal(.integer(value)), token.span)
        case .number(let value):
            _ = try advance()
            return (.literal(.number(value)), token.span)
        case .string(let value):
            _ = try advance()
            return (.literal(.string(value)), token.span)
        case .dollar:
            _ = try advance()
            return (.root, token.span)
        case .identifier(let name):
            _ = try advance()
            switch name {
            case "true": return (.literal(.bool(true)), token.span)
            case "false": return (.literal(.bool(false)), token.span)
            case "null": return (.literal(.null), token.span)
            default: return try parseCall(name: token)
            }
        case .leftParen:
            let open = try advance()
            let (inner, _) = try parseConditional(after: open)
            let close = try expect(.rightParen)
            return (inner, token.span.through(close.span))
        case .leftBracket:
            return try parseArray()
        case .leftBrace:
            return try parseObject()
        default:
            let context = previous.map { " after \($0.quoted)" } ?? ""
            throw .syntax("expected expression\(context)", at: token.span.start)
        }
    }

    /// call = name "(" [ expression { "," expression } ] ")"
    private mutating func parseCall(name token: Token) throws(ExpressionError) -> (Node, Span) {
        let name = token.kind.symbol
        guard current.kind == .leftParen else {
            if Function(rawValue: name) != nil {
                throw .syntax("expected \"(\" after function \(ValueText.quote(name))", at: current.span.start)
            }
            throw .syntax(
                "unknown name \(ValueText.quote(name)) (paths start with \"$\", strings are quoted)",
                at: token.span.start)
        }
        guard let function = Function(rawValue: name) else {
            throw .syntax("unknown function \(ValueText.quote(name))", at: token.span.start)
        }
        let (arguments, close) = try parseList(closing: .rightParen)
        let span = token.span.through(close.span)
        guard function.arity.contains(arguments.count) else {
            throw .syntax(
                "function \(ValueText.quote(name)) takes \(function.arityDescription), got \(arguments.count)",
                at: token.span.start)
        }
        let node = Node.call(function, arguments, span)
        return (function.isPure ? Parser.fold(node, inputs: arguments) : node, span)
    }

    /// Comma-separated expressions after an opening token (already current), up
    /// to `closing`; a trailing comma is allowed.
    private mutating func parseList(closing: Token.Kind) throws(ExpressionError) -> ([Node], Token) {
        var separator = try advance()
        var items: [Node] = []
        while current.kind != closing {
            let (item, _) = try parseConditional(after: separator)
            items.append(item)
            guard current.kind == .comma else { break }
            separator = try advance()
        }
        let close = try expect(closing)
        return (items, close)
    }

    /// array = "[" [ expression { "," expression } [","] ] "]"
    private mutating func parseArray() throws(ExpressionError) -> (Node, Span) {
        let start = current.span
        let (elements, close) = try parseList(closing: .rightBracket)
        let span = start.through(close.span)
        return (Parser.fold(.array(elements, span), inputs: elements), span)
    }

    /// object = "{" [ key ":" expression { "," key ":" expression } [","] ] "}"
    private mutating func parseObject() throws(ExpressionError) -> (Node, Span) {
        let start = current.span
        _ = try advance()
        var members: [(key: String, value: Node)] = []
        while current.kind != .rightBrace {
            let key: String
            switch current.kind {
            case .string(let text): key = text
            case .identifier(let name): key = name
            default:
                throw .syntax("expected member name or \"}\"", at: current.span.start)
            }
            _ = try advance()
            let colon = try expect(.colon)
            let (value, _) = try parseConditional(after: colon)
            members.append((key, value))
            guard current.kind == .comma else { break }
            _ = try advance()
        }
        let close = try expect(.rightBrace)
        let span = start.through(close.span)
        return (Parser.fold(.object(members, span), inputs: members.map(\.value)), span)
    }

    // MARK: Tokens

    @discardableResult
    private mutating func advance() throws(ExpressionError) -> Token {
        let token = current
        current = try lexer.next()
        return token
    }

    private mutating func expect(_ kind: Token.Kind) throws(ExpressionError) -> Token {
        guard current.kind == kind else {
            throw .syntax("expected \"\(kind.symbol)\"", at: current.span.start)
        }
        return try advance()
    }

    // MARK: Constant folding

    /// `node` replaced by its value when every input is a constant and
    /// evaluating it succeeds; errors are left for evaluation time so that
    /// they carry the same message whether or not the input was constant.
    private static func fold(_ node: Node, inputs: [Node]) -> Node {
        for input in inputs where input.literalValue == nil { return node }
        do {
            return .literal(try Evaluator(root: .null).evaluate(node))
        } catch {
            return node
        }
    }
}

extension Node {
    /// For an access node, the value being accessed; otherwise the node itself.
    fileprivate var baseOfAccess: Node {
        switch self {
        case .member(let base, _, _), .element(let base, _, _), .subscripted(let base, _, _): base
        default: self
        }
    }
}
