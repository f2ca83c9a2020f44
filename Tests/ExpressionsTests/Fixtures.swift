import Expressions
import JSONSchemaKit

/// A message as the runtime hands it to expressions: `$` in every test.
let message: JSONValue = [
    "id": "m-1",
    "from": "ticker:out",
    "payload": [
        "host": "example.com",
        "n": 41,
        "ratio": 0.5,
        "name": "Ada",
        "items": [10, 20, 30],
        "odd key": "yes",
        "nested": ["a": ["b": 1]],
        "empty": "",
        "tags": ["x", "y"],
        "flag": true,
        "nothing": nil,
        "index": 1,
    ],
]

/// Compiles and evaluates `source` against `root`.
func evaluate(_ source: String, root: JSONValue = message) throws(ExpressionError) -> JSONValue {
    try Expression(source).evaluate(root: root)
}

/// The error compiling or evaluating `source` throws, if any.
func failure(_ source: String, root: JSONValue = message) -> ExpressionError? {
    do {
        _ = try evaluate(source, root: root)
        return nil
    } catch {
        return error
    }
}
