import JSONSchemaKit

/// Where a piece of syntax sits in its source: half-open offsets in Unicode
/// scalars from the start of the source string (a template leaf's whole
/// string for expressions inside `{{ }}`). Every node that can fail carries
/// one, so an error can quote the sub-expression. Columns are `start + 1`.
struct Span: Sendable, Hashable {
    var start: Int
    var end: Int

    var column: Int { start + 1 }

    /// The span covering both `self` and `other`.
    func through(_ other: Span) -> Span { Span(start: min(start, other.start), end: max(end, other.end)) }
}

/// A prefix operator.
enum UnaryOperator: String, Sendable {
    case not = "!"
    case negate = "-"
}

/// An infix operator that evaluates both operands (the short-circuiting ones
/// have their own node cases).
enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
}

/// The syntax tree of a compiled expression. Evaluation walks it directly;
/// nothing is looked up by name at evaluation time except JSON object members.
indirect enum Node: Sendable {
    /// A constant, including constant sub-expressions folded at compile time.
    case literal(JSONValue)
    /// `$`, the root value.
    case root
    /// `base.name` or `base["name"]`.
    case member(Node, String, Span)
    /// `base[3]` or `base[-1]`: a constant array index.
    case element(Node, Int, Span)
    /// `base[expr]`: an index computed at evaluation time.
    case subscripted(Node, Node, Span)
    /// `!x`, `-x`.
    case unary(UnaryOperator, Node, Span)
    /// `a + b` and the other eager infix operators.
    case binary(BinaryOperator, Node, Node, Span)
    /// `a && b`.
    case and(Node, Node, Span)
    /// `a || b`.
    case or(Node, Node, Span)
    /// `a ?? b`.
    case coalesce(Node, Node, Span)
    /// `c ? a : b`.
    case conditional(Node, Node, Node, Span)
    /// `[a, b]`.
    case array([Node], Span)
    /// `{"a": x, b: y}`; members in source order, later duplicates win.
    case object([(key: String, value: Node)], Span)
    /// `f(a, b)`; arity was checked at compile time.
    case call(Function, [Node], Span)

    /// The constant value, if this node is a literal.
    var literalValue: JSONValue? {
        if case .literal(let value) = self { return value }
        return nil
    }
}
