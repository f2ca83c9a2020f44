import JSONSchemaKit

/// A parsed sub-expression: its tree, where it came from and how deep the
/// tree is (evaluation recurses that deep, so the depth is bounded).
struct Parsed {
    var node: Node
    var span: Span
    var depth: Int
}

/// A recursive-descent parser with precedence climbing for the infix
/// operators. It reads tokens on demand from a ``Lexer`` and builds a
/// ``Node`` tree, folding constant sub-expressions as it goes.
struct Parser {
    private var lexer: Lexer
    /// The token being looked at.
    private(set) var current: Token

    /// How deeply sub-expressions may nest. Deeper trees are rejected at
    /// compile time so that neither parsing nor evaluation can exhaust the stack.
    static let maximumDepth = 200

    /// How many grammar rules are active; bounds the parser's own recursion.
    private var nesting = 0

    /// A parser over `scalars` starting at `position`.
    init(scalars: [Unicode.Scalar], position: Int) throws(ExpressionError) {
        lexer = Lexer(scalars: scalars, position: position)
        current = try lexer.next()
    }

    /// Parses a whole standalone expression: one expression, then the end of the text.
    static func parseStandalone(_ source: String) throws(ExpressionError) -> Node {
        var parser = try Parser(scalars: Array(source.unicodeScalars), position: 0)
        let node = try parser.parseExpression().node
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

    /// expression = conditional; docs/expressions.md has the whole grammar.
    mutating func parseExpression() throws(ExpressionError) -> Parsed {
        try parseConditional(after: nil)
    }

    /// Counts one level of recursion into the grammar; throws when too deep.
    private mutating func enter() throws(ExpressionError) {
        nesting += 1
        if nesting > Parser.maximumDepth { throw tooDeep(at: current.span.start) }
    }

    private func tooDeep(at offset: Int) -> ExpressionError {
        .syntax("expression is nested too deeply", at: offset)
    }

    /// `node`, built from `inputs`, folded to a constant when it can be
    /// (see ``fold(_:inputs:)``); throws when the tree gets too deep.
    private func make(_ node: Node, span: Span, inputs: [Parsed], foldable: Bool = true) throws(ExpressionError)
        -> Parsed
    {
        var depth = 0
        for input in inputs { depth = max(depth, input.depth) }
        depth += 1
        if depth > Parser.maximumDepth { throw tooDeep(at: span.start) }
        guard foldable else { return Parsed(node: node, span: span, depth: depth) }
        let folded = Parser.fold(node, inputs: inputs)
        return Parsed(node: folded, span: span, depth: folded.literalValue == nil ? depth : 1)
    }

    /// conditional = binary [ "?" conditional ":" conditional ]
    private mutating func parseConditional(after previous: Token?) throws(ExpressionError) -> Parsed {
        try enter()
        defer { nesting -= 1 }
        let condition = try parseBinary(minimumPrecedence: 1, after: previous)
        guard current.kind == .question else { return condition }
        let question = try advance()
        let whenTrue = try parseConditional(after: question)
        let colon = try expect(.colon)
        let whenFalse = try parseConditional(after: colon)
        let span = condition.span.through(whenFalse.span)
        if let value = condition.node.literalValue {
            var chosen = value.isTruthy ? whenTrue : whenFalse
            chosen.span = span
            return chosen
        }
        return try make(
            .conditional(condition.node, whenTrue.node, whenFalse.node, span), span: span,
            inputs: [condition, whenTrue, whenFalse])
    }

    /// An infix operator: the short-circuiting ones have their own node cases.
    private enum Infix {
        case or, and, coalesce
        case eager(BinaryOperator)

        init?(_ kind: Token.Kind) {
            switch kind {
            case .pipePipe: self = .or
            case .ampersandAmpersand: self = .and
            case .questionQuestion: self = .coalesce
            case .plus: self = .eager(.add)
            case .minus: self = .eager(.subtract)
            case .star: self = .eager(.multiply)
            case .slash: self = .eager(.divide)
            case .percent: self = .eager(.remainder)
            case .equalEqual: self = .eager(.equal)
            case .bangEqual: self = .eager(.notEqual)
            case .less: self = .eager(.less)
            case .lessEqual: self = .eager(.lessOrEqual)
            case .greater: self = .eager(.greater)
            case .greaterEqual: self = .eager(.greaterOrEqual)
            default: return nil
            }
        }

        /// Binding strength: higher binds tighter.
        var precedence: Int {
            switch self {
            case .or: 1
            case .and: 2
            case .eager(.equal), .eager(.notEqual): 3
            case .eager(.less), .eager(.lessOrEqual), .eager(.greater), .eager(.greaterOrEqual): 4
            case .coalesce: 5
            case .eager(.add), .eager(.subtract): 6
            case .eager(.multiply), .eager(.divide), .eager(.remainder): 7
            }
        }

        /// `a ?? b ?? c` groups as `a ?? (b ?? c)`; everything else groups left.
        var isRightAssociative: Bool {
            if case .coalesce = self { return true }
            return false
        }

        func node(_ left: Node, _ right: Node, _ span: Span) -> Node {
            switch self {
            case .or: .or(left, right, span)
            case .and: .and(left, right, span)
            case .coalesce: .coalesce(left, right, span)
            case .eager(let op): .binary(op, left, right, span)
            }
        }
    }

    /// Precedence climbing over the infix operators binding at least as
    /// tightly as `minimumPrecedence`:
    /// binary = unary { infix-operator unary }
    private mutating func parseBinary(minimumPrecedence: Int, after previous: Token?) throws(ExpressionError)
        -> Parsed
    {
        try enter()
        defer { nesting -= 1 }
        var left = try parseUnary(after: previous)
        while let op = Infix(current.kind), op.precedence >= minimumPrecedence {
            let operatorToken = try advance()
            let right = try parseBinary(
                minimumPrecedence: op.isRightAssociative ? op.precedence : op.precedence + 1, after: operatorToken)
            let span = left.span.through(right.span)
            left = try make(op.node(left.node, right.node, span), span: span, inputs: [left, right])
        }
        return left
    }

    /// unary = ( "!" | "-" ) unary | postfix
    private mutating func parseUnary(after previous: Token?) throws(ExpressionError) -> Parsed {
        let op: UnaryOperator
        switch current.kind {
        case .bang: op = .not
        case .minus: op = .negate
        default: return try parsePostfix(after: previous)
        }
        try enter()
        defer { nesting -= 1 }
        let operatorToken = try advance()
        let operand = try parseUnary(after: operatorToken)
        let span = operatorToken.span.through(operand.span)
        return try make(.unary(op, operand.node, span), span: span, inputs: [operand])
    }

    /// postfix = primary { "." name | "[" expression "]" }
    private mutating func parsePostfix(after previous: Token?) throws(ExpressionError) -> Parsed {
        var base = try parsePrimary(after: previous)
        while true {
            switch current.kind {
            case .dot:
                _ = try advance()
                guard case .identifier(let name) = current.kind else {
                    throw .syntax("expected member name after \".\"", at: current.span.start)
                }
                let nameToken = try advance()
                let span = base.span.through(nameToken.span)
                base = try make(.member(base.node, name, span), span: span, inputs: [base])
            case .leftBracket:
                let bracket = try advance()
                let index = try parseConditional(after: bracket)
                let close = try expect(.rightBracket)
                let span = base.span.through(close.span)
                let node: Node
                switch index.node.literalValue {
                case .integer(let offset)?: node = .element(base.node, offset, span)
                case .string(let name)?: node = .member(base.node, name, span)
                default: node = .subscripted(base.node, index.node, span)
                }
                base = try make(node, span: span, inputs: [base, index])
            default:
                return base
            }
        }
    }

    /// primary = number | string | "true" | "false" | "null" | "$" | call
    ///         | "(" expression ")" | array | object
    private mutating func parsePrimary(after previous: Token?) throws(ExpressionError) -> Parsed {
        let token = current
        func leaf(_ node: Node) -> Parsed { Parsed(node: node, span: token.span, depth: 1) }
        switch token.kind {
        case .integer(let value):
            try advance()
            return leaf(.literal(.integer(value)))
        case .number(let value):
            try advance()
            return leaf(.literal(.number(value)))
        case .string(let value):
            try advance()
            return leaf(.literal(.string(value)))
        case .dollar:
            try advance()
            return leaf(.root)
        case .identifier(let name):
            try advance()
            switch name {
            case "true": return leaf(.literal(.bool(true)))
            case "false": return leaf(.literal(.bool(false)))
            case "null": return leaf(.literal(.null))
            default: return try parseCall(name: token)
            }
        case .leftParen:
            let open = try advance()
            var inner = try parseConditional(after: open)
            let close = try expect(.rightParen)
            inner.span = token.span.through(close.span)
            return inner
        case .leftBracket:
            let (elements, close) = try parseList(closing: .rightBracket)
            let span = token.span.through(close.span)
            return try make(.array(elements.map(\.node), span), span: span, inputs: elements)
        case .leftBrace:
            return try parseObject()
        default:
            let context = previous.map { " after \($0.quoted)" } ?? ""
            throw .syntax("expected expression\(context)", at: token.span.start)
        }
    }

    /// call = name "(" [ expression { "," expression } [","] ] ")"
    private mutating func parseCall(name token: Token) throws(ExpressionError) -> Parsed {
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
        let node = Node.call(function, arguments.map(\.node), span)
        return try make(node, span: span, inputs: arguments, foldable: function.isPure)
    }

    /// Comma-separated expressions after an opening token (the current one),
    /// up to `closing`; a trailing comma is allowed.
    private mutating func parseList(closing: Token.Kind) throws(ExpressionError) -> ([Parsed], Token) {
        var separator = try advance()
        var items: [Parsed] = []
        while current.kind != closing {
            items.append(try parseConditional(after: separator))
            guard current.kind == .comma else { break }
            separator = try advance()
        }
        let close = try expect(closing)
        return (items, close)
    }

    /// object = "{" [ member { "," member } [","] ] "}"
    /// member = ( name | string ) ":" expression
    private mutating func parseObject() throws(ExpressionError) -> Parsed {
        let start = current.span
        try advance()
        var keys: [String] = []
        var values: [Parsed] = []
        while current.kind != .rightBrace {
            switch current.kind {
            case .string(let text): keys.append(text)
            case .identifier(let name): keys.append(name)
            default: throw .syntax("expected member name or \"}\"", at: current.span.start)
            }
            try advance()
            let colon = try expect(.colon)
            values.append(try parseConditional(after: colon))
            guard current.kind == .comma else { break }
            try advance()
        }
        let close = try expect(.rightBrace)
        let span = start.through(close.span)
        let members = zip(keys, values).map { (key: $0, value: $1.node) }
        return try make(.object(members, span), span: span, inputs: values)
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
    private static func fold(_ node: Node, inputs: [Parsed]) -> Node {
        for input in inputs where input.node.literalValue == nil { return node }
        do {
            return .literal(try Evaluator(root: .null).evaluate(node))
        } catch {
            return node
        }
    }
}
