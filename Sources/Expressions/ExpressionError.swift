/// Why an expression or template could not be compiled or evaluated, with
/// where it happened.
///
/// `description` reads like
/// `mapping.url: expected expression after "+" at column 9` (compiling) or
/// `cannot apply "-" to string "a" and integer 1 in `$.name - 1` at column 1`
/// (evaluating).
public struct ExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// When the error happened.
    public enum Phase: Sendable, Hashable {
        /// While compiling: the text is not a valid expression or template.
        case syntax
        /// While evaluating a valid expression against a root value.
        case evaluation
    }

    /// When the error happened.
    public var phase: Phase
    /// What went wrong, without the location, e.g. `expected ")"`.
    public var message: String
    /// The 1-based column (in Unicode scalars) of the offending text in the
    /// source string; for an expression inside a template, in the template's
    /// string leaf.
    public var column: Int
    /// For evaluation errors, the text of the sub-expression that failed,
    /// e.g. `$.name - 1`.
    public var subexpression: String?
    /// For templates, the JSON path of the string leaf, e.g. `mapping.url`;
    /// empty for a standalone expression or a template's root string.
    public var path: String

    /// Creates an error; the compiler and evaluator make these, tests and
    /// callers that wrap expressions may too.
    public init(phase: Phase, message: String, column: Int, subexpression: String? = nil, path: String = "") {
        self.phase = phase
        self.message = message
        self.column = column
        self.subexpression = subexpression
        self.path = path
    }

    /// `path: message [in `subexpression`] at column N`.
    public var description: String {
        path.isEmpty ? detail : "\(path): \(detail)"
    }

    /// The error without its path: `message [in `subexpression`] at column N`.
    public var detail: String {
        var text = message
        if let subexpression { text += " in `\(subexpression)`" }
        text += " at column \(column)"
        return text
    }

    /// A compile-time error at a 0-based scalar offset.
    static func syntax(_ message: String, at offset: Int) -> ExpressionError {
        ExpressionError(phase: .syntax, message: message, column: offset + 1)
    }

    /// The same error located at `path` in a template.
    func at(path: String) -> ExpressionError {
        var copy = self
        copy.path = path
        return copy
    }
}
