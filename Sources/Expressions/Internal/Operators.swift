import JSONSchemaKit

/// The eager infix operators.
enum Operators {
    static func apply(_ op: BinaryOperator, _ left: JSONValue, _ right: JSONValue, span: Span) throws(
        EvaluationFailure
    ) -> JSONValue {
        func mismatch() -> EvaluationFailure {
            EvaluationFailure(
                message:
                    "cannot apply \"\(op.rawValue)\" to \(ValueText.describe(left)) and \(ValueText.describe(right))",
                span: span)
        }
        switch op {
        case .equal:
            return .bool(Values.equal(left, right))
        case .notEqual:
            return .bool(!Values.equal(left, right))
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: Int
            if let numeric = Values.compareNumbers(left, right) {
                order = numeric
            } else if case .string(let a) = left, case .string(let b) = right {
                order = a < b ? -1 : (a == b ? 0 : 1)
            } else {
                throw mismatch()
            }
            switch op {
            case .less: return .bool(order < 0)
            case .lessOrEqual: return .bool(order <= 0)
            case .greater: return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case .add:
            switch (left, right) {
            case (.string(let a), .string(let b)):
                return .string(a + b)
            case (.string(let a), .integer), (.string(let a), .number), (.string(let a), .bool):
                return .string(a + ValueText.stringForm(right))
            case (.integer, .string(let b)), (.number, .string(let b)), (.bool, .string(let b)):
                return .string(ValueText.stringForm(left) + b)
            case (.array(let a), .array(let b)):
                return .array(a + b)
            case (.object(let a), .object(let b)):
                return .object(a.merging(b) { _, new in new })
            default:
                return try arithmetic(op, left, right, span: span, mismatch: mismatch)
            }
        case .subtract, .multiply, .divide, .remainder:
            return try arithmetic(op, left, right, span: span, mismatch: mismatch)
        }
    }

    /// `+ - * / %` on numbers: integers stay integers while the result is
    /// exact and in range; anything involving a float is a float.
    private static func arithmetic(
        _ op: BinaryOperator, _ left: JSONValue, _ right: JSONValue, span: Span,
        mismatch: () -> EvaluationFailure
    ) throws(EvaluationFailure) -> JSONValue {
        if case .integer(let a) = left, case .integer(let b) = right {
            let result: (partialValue: Int, overflow: Bool)
            switch op {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide:
                guard b != 0 else { throw EvaluationFailure(message: "division by zero", span: span) }
                let (quotient, overflow) = a.dividedReportingOverflow(by: b)
                if !overflow, a.remainderReportingOverflow(dividingBy: b).partialValue == 0 {
                    return .integer(quotient)
                }
                return try finite(Double(a) / Double(b), span: span)
            case .remainder:
                guard b != 0 else { throw EvaluationFailure(message: "division by zero", span: span) }
                result = a.remainderReportingOverflow(dividingBy: b)
                if result.overflow { return .integer(0) }
            default: throw mismatch()
            }
            if result.overflow {
                throw EvaluationFailure(
                    message: "integer overflow in \(a) \(op.rawValue) \(b)", span: span)
            }
            return .integer(result.partialValue)
        }
        guard let a = left.numericDouble, let b = right.numericDouble else { throw mismatch() }
        switch op {
        case .add: return try finite(a + b, span: span)
        case .subtract: return try finite(a - b, span: span)
        case .multiply: return try finite(a * b, span: span)
        case .divide:
            guard b != 0 else { throw EvaluationFailure(message: "division by zero", span: span) }
            return try finite(a / b, span: span)
        case .remainder:
            guard b != 0 else { throw EvaluationFailure(message: "division by zero", span: span) }
            return try finite(a.truncatingRemainder(dividingBy: b), span: span)
        default: throw mismatch()
        }
    }

    /// JSON has no infinities or NaN: such a result is an error.
    private static func finite(_ value: Double, span: Span) throws(EvaluationFailure) -> JSONValue {
        guard value.isFinite else {
            throw EvaluationFailure(message: "the result \(value) is not a finite number", span: span)
        }
        return .number(value)
    }
}

extension JSONValue {
    /// The value as a `Double` when it is an integer or a float (never for
    /// strings or booleans, unlike `doubleValue` conversions elsewhere).
    var numericDouble: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }
}
