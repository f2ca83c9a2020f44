import Expressions
import FuzzSupport
import JSONSchemaKit

/// Fuzzes the expression language: the input is compiled as an expression
/// (`Expression(_:)`, as a router's condition or a transform is) and as a template leaf
/// (`Template(compiling:)`, as an edge's `mapping` is), and whatever compiles is evaluated
/// against a small message. Compiling and evaluating either succeed or throw an
/// `ExpressionError`; an expression the compiler calls constant evaluates to the same
/// value whatever the message.
@main
enum FuzzExpressions {
    static func main() {
        FuzzDriver.main("FuzzExpressions", test)
    }

    /// `$` for a message as the runtime binds it.
    static let message: JSONValue = [
        "id": "m-1",
        "from": "source:out",
        "payload": [
            "name": "Ada", "count": 3, "ratio": 0.5, "flag": true, "nothing": nil,
            "items": [1, 2, 3, "four", ["five": 5]],
            "nested": ["a": ["b": ["c": "deep"]]],
            "text": "héllo wörld ✓",
        ],
    ]

    static func test(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        if let expression = try? Expression(text) {
            let value = try? expression.evaluate(root: message)
            _ = try? expression.test(root: message)
            if expression.isConstant, let value, !containsNaN(value) {
                let elsewhere = try? expression.evaluate(root: .null)
                precondition(elsewhere == value, "constant expression \(text) gave \(value.jsonString) and \(elsewhere?.jsonString ?? "an error")")
            }
        }
        let leaf: JSONValue = ["leaf": .string(text), "list": [.string(text), 1]]
        if let template = try? Template(compiling: leaf, at: "mapping") {
            _ = try? template.render(root: message)
        }
    }

    static func containsNaN(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.isNaN
        case .array(let elements): return elements.contains(where: containsNaN)
        case .object(let members): return members.values.contains(where: containsNaN)
        default: return false
        }
    }
}
