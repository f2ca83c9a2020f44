import JSONSchemaKit

/// A compiled expression of the Tinyflow expression language, e.g.
/// `$.payload.count + 1` or `upper($.payload.name ?? "anonymous")`.
///
/// Compile once with ``init(_:)`` and evaluate as often as needed with
/// ``evaluate(root:)``: evaluation walks the compiled tree and never re-parses.
/// A compiled expression is immutable, so one value can be shared by any
/// number of concurrent tasks. The language is described in
/// `docs/expressions.md`.
public struct Expression: Sendable, CustomStringConvertible {
    /// The text the expression was compiled from.
    public let source: String
    let compiled: CompiledExpression

    /// Compiles `source`.
    ///
    /// - Throws: ``ExpressionError`` with phase `.syntax` naming the column and
    ///   what was expected, e.g. `expected ")" at column 14`, or an unknown
    ///   function by name.
    public init(_ source: String) throws(ExpressionError) {
        self.source = source
        compiled = CompiledExpression(node: try Parser.parseStandalone(source), source: source)
    }

    /// The value of the expression with `$` bound to `root` (for a message,
    /// usually `{"payload": …, "id": …, "from": …}`).
    ///
    /// - Throws: ``ExpressionError`` with phase `.evaluation` naming the failing
    ///   sub-expression and the types involved, e.g.
    ///   `cannot apply "-" to string "a" and integer 1 in `$.name - 1` at column 1`.
    public func evaluate(root: JSONValue) throws(ExpressionError) -> JSONValue {
        try compiled.evaluate(root: root)
    }

    /// Whether the expression's value is truthy for `root` (see
    /// ``JSONSchemaKit/JSONValue/isTruthy``); what a router's condition asks.
    public func test(root: JSONValue) throws(ExpressionError) -> Bool {
        try compiled.evaluate(root: root).isTruthy
    }

    /// Whether the expression is a constant: it does not read `$` and calls no
    /// function whose result changes between calls (`now`, `uuid`).
    public var isConstant: Bool { compiled.node.literalValue != nil }

    /// The source text.
    public var description: String { source }
}

/// A parsed expression together with the string its spans point into (the
/// whole template leaf for an expression inside `{{ }}`).
struct CompiledExpression: Sendable {
    let node: Node
    let source: String

    func evaluate(root: JSONValue) throws(ExpressionError) -> JSONValue {
        if case .literal(let value) = node { return value }
        do {
            return try Evaluator(root: root).evaluate(node)
        } catch {
            throw ExpressionError(
                phase: .evaluation, message: error.message, column: error.span.column,
                subexpression: text(of: error.span))
        }
    }

    /// The source text covered by `span`.
    private func text(of span: Span) -> String {
        let scalars = source.unicodeScalars
        guard let start = scalars.index(scalars.startIndex, offsetBy: span.start, limitedBy: scalars.endIndex),
            let end = scalars.index(start, offsetBy: span.end - span.start, limitedBy: scalars.endIndex)
        else { return source }
        return String(scalars[start..<end])
    }
}
