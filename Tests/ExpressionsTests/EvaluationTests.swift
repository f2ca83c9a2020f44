import Expressions
import JSONSchemaKit
import Testing

@Suite("Evaluating expressions")
struct EvaluationTests {
    @Test(
        "operators bind by precedence and group left, except ?? and ?: which group right",
        arguments: [
            ("1 + 2 * 3", 7),
            ("(1 + 2) * 3", 9),
            ("10 - 3 - 2", 5),
            ("100 / 10 / 5", 2),
            ("2 * 3 % 4", 2),
            ("-2 * 3", -6),
            ("- -2", 2),
            ("-(2 + 3)", -5),
            ("2 - -1", 3),
            ("!true == false", true),
            ("!!1", true),
            ("1 < 2 == 2 < 3", true),
            ("true || false && false", true),
            ("(true || false) && false", false),
            ("null ?? 1 + 1", 2),
            ("null ?? null ?? 3", 3),
            ("$.payload.missing ?? 0 > 5", false),
            ("true ? 1 : false ? 2 : 3", 1),
            ("false ? 1 : false ? 2 : 3", 3),
            ("false ? 1 : true ? 2 : 3", 2),
            ("1 + 2 > 2 ? 'big' : 'small'", "big"),
            ("2 + 3 == 5 && 1 < 2", true),
            ("1 == 1 ? 2 == 2 ? 'a' : 'b' : 'c'", "a"),
        ] as [(String, JSONValue)]
    )
    func precedence(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "integers stay integers while exact; anything with a float is a float",
        arguments: [
            ("1 + 2", .integer(3)),
            ("1 / 2", .number(0.5)),
            ("4 / 2", .integer(2)),
            ("-9 / 3", .integer(-3)),
            ("7 / 2", .number(3.5)),
            ("1.5 + 1", .number(2.5)),
            ("2 * 0.5", .number(1.0)),
            ("3 - 1.0", .number(2.0)),
            ("7 % 3", .integer(1)),
            ("-7 % 3", .integer(-1)),
            ("7.5 % 2", .number(1.5)),
            ("1e3", .number(1000)),
            ("2.5e-1", .number(0.25)),
            ("$.payload.n + 1", .integer(42)),
            ("$.payload.ratio * 4", .number(2.0)),
            ("-$.payload.n", .integer(-41)),
            ("-$.payload.ratio", .number(-0.5)),
            ("0.1 + 0.2 > 0.3", .bool(true)),
            ("9223372036854775807", .integer(Int.max)),
        ] as [(String, JSONValue)]
    )
    func arithmetic(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "+ concatenates strings, arrays and objects",
        arguments: [
            (#""a" + "b""#, "ab"),
            (#"'n=' + 1"#, "n=1"),
            (#"1.5 + "x""#, "1.5x"),
            (#"'on: ' + true"#, "on: true"),
            (#"$.payload.host + "/api""#, "example.com/api"),
            ("[1] + [2, 3]", [1, 2, 3]),
            ("{a: 1, b: 1} + {b: 2}", ["a": 1, "b": 2]),
        ] as [(String, JSONValue)]
    )
    func concatenation(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "dividing by zero is an error, for integers and floats alike",
        arguments: ["1 / 0", "1 % 0", "1.5 / 0", "1 / 0.0", "$.payload.n / ($.payload.n - 41)", "2.5 % 0"]
    )
    func divisionByZero(source: String) throws {
        let error = try #require(failure(source))
        #expect(error.phase == .evaluation)
        #expect(error.message == "division by zero")
        #expect(error.subexpression == source)
        #expect(error.column == 1)
    }

    @Test(
        "integer overflow is an error, never a wrap-around",
        arguments: ["9223372036854775807 + 1", "-9223372036854775807 - 2", "$.big * 2", "-$.min"]
    )
    func overflow(source: String) throws {
        let root: JSONValue = ["big": .integer(Int.max / 2 + 1), "min": .integer(Int.min)]
        let error = try #require(failure(source, root: root))
        #expect(error.message.contains("integer overflow"))
    }

    @Test(
        "paths read members and elements; missing members and out-of-range indexes are null",
        arguments: [
            ("$.payload.host", "example.com"),
            ("$.id", "m-1"),
            ("$.payload.items[0]", 10),
            ("$.payload.items[-1]", 30),
            ("$.payload.items[-3]", 10),
            ("$.payload.items[-4]", nil),
            ("$.payload.items[3]", nil),
            ("$.payload.items[$.payload.index]", 20),
            ("$.payload.items[1 + 1]", 30),
            (#"$.payload["odd key"]"#, "yes"),
            (#"$['payload']['odd key']"#, "yes"),
            (#"$["pay" + "load"].name"#, "Ada"),
            ("$.payload.nested.a.b", 1),
            ("$.payload.missing", nil),
            ("$.payload.missing.deeper[0].still", nil),
            ("$.nope[2]", nil),
            ("$.payload.nothing", nil),
            ("$.payload.a.b ?? 'default'", "default"),
            ("$.payload.nothing ?? 'd'", "d"),
            ("$.payload.empty ?? 'd'", ""),
            ("$.payload.flag ?? 'd'", true),
            ("[1, 2, 3][1]", 2),
            ("{a: {b: 5}}.a.b", 5),
            (#"json('{"a": [7]}').a[0]"#, 7),
            ("$.payload.true", nil),
        ] as [(String, JSONValue)]
    )
    func paths(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test("$ alone is the whole root value")
    func root() throws {
        #expect(try evaluate("$") == message)
        #expect(try evaluate("$", root: 3) == 3)
        #expect(try evaluate("$.payload") == message["payload"])
    }

    @Test(
        "literals: strings in either quote with escapes, numbers, booleans, null, arrays and objects",
        arguments: [
            (#"'it\'s'"#, "it's"),
            (#""say \"hi\"""#, #"say "hi""#),
            (#"'tab\there'"#, "tab\there"),
            (#""line\nbreak""#, "line\nbreak"),
            (#""back\\slash\/""#, #"back\slash/"#),
            (#""\u00e9""#, "é"),
            (#""\ud83d\ude00""#, "😀"),
            (#"'\u{1F600}'"#, "😀"),
            (#"'"double" inside single'"#, #""double" inside single"#),
            ("true", true),
            ("false", false),
            ("null", nil),
            ("0", 0),
            ("[]", []),
            ("{}", [:]),
            ("[1, $.payload.n, 'x', [true]]", [1, 41, "x", [true]]),
            ("[1, 2,]", [1, 2]),
            (#"{"a": $.payload.n, b: 2, 'c d': null,}"#, ["a": 41, "b": 2, "c d": nil]),
            ("{a: 1, a: 2}", ["a": 2]),
        ] as [(String, JSONValue)]
    )
    func literals(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "== and != compare JSON values deeply; an integer equals the same float",
        arguments: [
            (#"[1, {"a": [true, null]}] == [1, {a: [true, null]}]"#, true),
            ("{a: 1, b: 2} == {b: 2, a: 1}", true),
            ("{a: 1} == {a: 1, b: null}", false),
            ("1 == 1.0", true),
            ("[1, 2.0] == [1.0, 2]", true),
            ("[1] == [1, 2]", false),
            (#""1" == 1"#, false),
            ("null == null", true),
            ("null == false", false),
            ("0 == false", false),
            ("$.payload.items == [10, 20, 30]", true),
            ("$.payload.nested == {a: {b: 1}}", true),
            ("{a: 1} != {a: 2}", true),
            ("'a' != 'a'", false),
        ] as [(String, JSONValue)]
    )
    func equality(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "< <= > >= order numbers (integers against floats exactly) and strings",
        arguments: [
            ("1 < 2", true), ("2 <= 2", true), ("3 > 2.5", true), ("2 >= 2.0", true),
            ("9007199254740993 > 9007199254740992.0", true),
            ("-1 < -0.5", true),
            ("'apple' < 'banana'", true), ("'b' >= 'a'", true), ("'a' < 'B'", false),
        ] as [(String, JSONValue)]
    )
    func ordering(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test(
        "false, null, 0, 0.0, \"\", [] and {} are falsy; everything else is truthy",
        arguments: [
            (nil, false), (false, false), (0, false), (0.0, false), ("", false), ([], false), ([:], false),
            (true, true), (1, true), (-1, true), (0.5, true), ("0", true), ("false", true), ([0], true),
            (["a": nil], true),
        ] as [(JSONValue, Bool)]
    )
    func truthiness(value: JSONValue, truthy: Bool) throws {
        #expect(value.isTruthy == truthy)
        #expect(try evaluate("!!$", root: value) == .bool(truthy))
        #expect(try evaluate("$ ? 'yes' : 'no'", root: value) == (truthy ? "yes" : "no"))
        #expect(try Expression("$").test(root: value) == truthy)
        #expect(try evaluate("$ && true", root: value) == .bool(truthy))
        #expect(try evaluate("$ || false", root: value) == .bool(truthy))
    }

    @Test(
        "&&, ||, ??, ?: and default() skip the operand they do not need",
        arguments: [
            ("false && 1 / 0", false),
            ("$.payload.empty && $.payload.host.x", false),
            ("true || $.payload.host.x", true),
            ("$.payload.n ?? 1 / 0", 41),
            ("true ? 1 : 1 / 0", 1),
            ("false ? 1 / 0 : 2", 2),
            ("default($.payload.n, 1 / 0)", 41),
            ("default($.payload.missing, 'fallback')", "fallback"),
        ] as [(String, JSONValue)]
    )
    func shortCircuit(source: String, expected: JSONValue) throws {
        #expect(try evaluate(source) == expected)
    }

    @Test("a compiled expression is evaluated again for every root without re-parsing")
    func reuse() throws {
        let expression = try Expression("$.payload.n * 2")
        for n in 0..<100 {
            #expect(try expression.evaluate(root: ["payload": ["n": .integer(n)]]) == .integer(n * 2))
        }
        #expect(expression.source == "$.payload.n * 2")
        #expect(!expression.isConstant)
        #expect(try Expression("1 + 2 * 3").isConstant)
        #expect(try !Expression("now()").isConstant)
    }
}
