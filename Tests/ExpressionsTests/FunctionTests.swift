import Expressions
import Foundation
import JSONSchemaKit
import Testing

@Suite("Built-in functions")
struct FunctionTests {
    @Test(
        "string functions",
        arguments: [
            ("len('héllo')", 5),
            ("len($.payload.items)", 3),
            ("len($.payload.nested)", 1),
            ("len('')", 0),
            ("upper($.payload.name)", "ADA"),
            ("lower('MiXeD')", "mixed"),
            ("trim('  padded \\n')", "padded"),
            ("contains($.payload.host, 'ample')", true),
            ("contains('abc', 'x')", false),
            ("contains('abc', '')", true),
            ("contains($.payload.items, 20)", true),
            ("contains($.payload.items, 20.0)", true),
            ("contains([[1], {a: 2}], {a: 2})", true),
            ("contains($.payload, 'host')", true),
            ("contains($.payload, 'nope')", false),
            ("startsWith($.from, 'ticker:')", true),
            ("endsWith($.from, ':in')", false),
            ("replace('a-b-c', '-', '+')", "a+b+c"),
            ("replace('abc', '', '+')", "abc"),
            ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
            ("split('abc', '')", ["a", "b", "c"]),
            ("split('', ',')", [""]),
            ("join(['a', 1, true, null], '-')", "a-1-true-null"),
            ("join($.payload.tags)", "xy"),
            ("join([], ',')", ""),
            ("substring('hello', 1)", "ello"),
            ("substring('hello', 1, 3)", "el"),
            ("substring('hello', -3)", "llo"),
            ("substring('hello', 2, 99)", "llo"),
            ("substring('hello', 4, 1)", ""),
            ("substring('héllo', 1, 2)", "é"),
        ] as [(String, JSONValue)]
    )
    func strings(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "conversions: string, number, int, keys, json, toJSON, default",
        arguments: [
            ("string(1)", "1"),
            ("string(0.5)", "0.5"),
            ("string(2.0)", "2.0"),
            ("string(true)", "true"),
            ("string(null)", "null"),
            ("string('s')", "s"),
            ("string([1, 'a'])", #"[1,"a"]"#),
            ("string({b: 1, a: 2})", #"{"a":2,"b":1}"#),
            ("number('42')", .integer(42)),
            ("number(' 2.5 ')", .number(2.5)),
            ("number('1e2')", .number(100)),
            ("number(7)", .integer(7)),
            ("number(false)", .integer(0)),
            ("int(3.9)", .integer(3)),
            ("int(-3.9)", .integer(-3)),
            ("int('12')", .integer(12)),
            ("int('12.7')", .integer(12)),
            ("int(true)", .integer(1)),
            ("keys({b: 1, a: 2})", ["a", "b"]),
            ("keys($.payload.nested)", ["a"]),
            (#"json('{"a": [1, 2.5, null]}')"#, ["a": [1, 2.5, nil]]),
            ("json('3')", 3),
            ("json('\"s\"')", "s"),
            ("toJSON({b: [1, 'x'], a: null})", #"{"a":null,"b":[1,"x"]}"#),
            ("toJSON('q')", #""q""#),
            ("json(toJSON($.payload)) == $.payload", true),
            ("default(null, 2)", 2),
            ("default(0, 2)", 0),
        ] as [(String, JSONValue)]
    )
    func conversions(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test("now() is the current time in RFC 3339 (UTC)")
    func now() throws {
        let before = Date()
        let value = try #require(evaluate("now()").stringValue)
        #expect(value.hasSuffix("Z"))
        #expect(value.count >= 20)
        let parsed = try #require(
            try? Date(value, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        #expect(abs(parsed.timeIntervalSince(before)) < 60)
        #expect(value.dropFirst(10).first == "T")
    }

    @Test("uuid() is a fresh lowercase UUID on every evaluation")
    func uuid() throws {
        let expression = try Expression("uuid()")
        let first = try #require(expression.evaluate(root: nil).stringValue)
        let second = try #require(expression.evaluate(root: nil).stringValue)
        #expect(UUID(uuidString: first) != nil)
        #expect(first == first.lowercased())
        #expect(first.count == 36)
        #expect(first != second)
    }

    @Test(
        "a function given the wrong type says which argument and what it got",
        arguments: [
            ("upper(1)", #""upper" expects a string as argument 1, got integer 1"#),
            ("startsWith('a', null)", #""startsWith" expects a string as argument 2, got null"#),
            ("len(5)", #""len" expects a string, array or object, got integer 5"#),
            ("substring('abc', '1')", #""substring" expects an integer as argument 2, got string "1""#),
            ("join('abc')", #""join" expects an array as argument 1, got string "abc""#),
            ("keys([1])", #""keys" expects an object, got array [1]"#),
            ("number('abc')", #"cannot convert string "abc" to a number"#),
            ("number('nan')", #"cannot convert string "nan" to a number"#),
            ("number('0x10')", #"cannot convert string "0x10" to a number"#),
            ("number('')", #"cannot convert string "" to a number"#),
            ("int('inf')", #"cannot convert string "inf" to an integer"#),
            ("int(null)", "cannot convert null to an integer"),
            ("int(1e300)", "cannot convert number 1e+300 to an integer"),
            ("json('{')", #""json" could not parse string "{" as JSON"#),
            ("contains(1, 1)", #""contains" cannot look for integer 1 in integer 1"#),
        ]
    )
    func typeErrors(source: String, message: String) throws {
        let error = try #require(failure(source))
        #expect(error.phase == .evaluation)
        #expect(error.message == message)
        #expect(error.subexpression == source)
    }
}
