import JSONSchemaKit

/// An evaluation error before it is given its sub-expression text.
struct EvaluationFailure: Error {
    var message: String
    var span: Span
}

/// Walks a ``Node`` tree against one root value. Holds no state besides the
/// root, so any number of evaluations can run at once.
struct Evaluator {
    let root: JSONValue

    func evaluate(_ node: Node) throws(EvaluationFailure) -> JSONValue {
        switch node {
        case .literal(let value):
            return value
        case .root:
            return root
        case .member(let base, let name, let span):
            let value = try evaluate(base)
            switch value {
            case .object(let members): return members[name] ?? .null
            case .null: return .null
            default:
                throw EvaluationFailure(
                    message: "cannot read member \(ValueText.quote(name)) of \(ValueText.describe(value))", span: span)
            }
        case .element(let base, let offset, let span):
            return try element(of: evaluate(base), at: offset, span: span)
        case .subscripted(let base, let indexNode, let span):
            let value = try evaluate(base)
            let index = try evaluate(indexNode)
            switch (value, index) {
            case (_, .integer(let offset)):
                return try element(of: value, at: offset, span: span)
            case (.object(let members), .string(let name)):
                return members[name] ?? .null
            case (.null, .string):
                return .null
            default:
                throw EvaluationFailure(
                    message: "cannot index \(ValueText.describe(value)) with \(ValueText.describe(index))", span: span)
            }
        case .unary(let op, let operandNode, let span):
            let operand = try evaluate(operandNode)
            switch (op, operand) {
            case (.not, _):
                return .bool(!operand.isTruthy)
            case (.negate, .integer(let value)):
                let (result, overflow) = Int(0).subtractingReportingOverflow(value)
                if overflow { throw EvaluationFailure(message: "integer overflow negating \(value)", span: span) }
                return .integer(result)
            case (.negate, .number(let value)):
                return .number(-value)
            case (.negate, _):
                throw EvaluationFailure(
                    message: "cannot apply \"-\" to \(ValueText.describe(operand))", span: span)
            }
        case .binary(let op, let leftNode, let rightNode, let span):
            let left = try evaluate(leftNode)
            let right = try evaluate(rightNode)
            return try Operators.apply(op, left, right, span: span)
        case .and(let left, let right, _):
            guard try evaluate(left).isTruthy else { return .bool(false) }
            return .bool(try evaluate(right).isTruthy)
        case .or(let left, let right, _):
            if try evaluate(left).isTruthy { return .bool(true) }
            return .bool(try evaluate(right).isTruthy)
        case .coalesce(let left, let right, _):
            let value = try evaluate(left)
            if case .null = value { return try evaluate(right) }
            return value
        case .conditional(let condition, let whenTrue, let whenFalse, _):
            return try evaluate(condition).isTruthy ? evaluate(whenTrue) : evaluate(whenFalse)
        case .array(let elementNodes, _):
            var elements: [JSONValue] = []
            elements.reserveCapacity(elementNodes.count)
            for elementNode in elementNodes { elements.append(try evaluate(elementNode)) }
            return .array(elements)
        case .object(let memberNodes, _):
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(memberNodes.count)
            for member in memberNodes { members[member.key] = try evaluate(member.value) }
            return .object(members)
        case .call(let function, let arguments, let span):
            return try call(function, arguments, span: span)
        }
    }

    /// `value[offset]`: negative offsets count from the end; out of range or a
    /// `null` base gives `null`.
    private func element(of value: JSONValue, at offset: Int, span: Span) throws(EvaluationFailure) -> JSONValue {
        switch value {
        case .array(let elements):
            let index = offset < 0 ? elements.count + offset : offset
            return elements.indices.contains(index) ? elements[index] : .null
        case .null:
            return .null
        default:
            throw EvaluationFailure(
                message: "cannot index \(ValueText.describe(value)) with integer \(offset)", span: span)
        }
    }
}
