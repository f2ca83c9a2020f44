import Expressions
import JSONSchemaKit
import Testing

@Suite("Error messages")
struct ErrorTests {
    @Test(
        "a syntax error names the column and what was expected",
        arguments: [
            ("len($.payload]", #"expected ")" at column 14"#),
            ("1 +", #"expected expression after "+" at column 4"#),
            ("1 * )", #"expected expression after "*" at column 5"#),
            ("!", #"expected expression after "!" at column 2"#),
            ("(", #"expected expression after "(" at column 2"#),
            ("", "expected expression at column 1"),
            ("(1 + 2", #"expected ")" at column 7"#),
            ("upper($.name", #"expected ")" at column 13"#),
            ("$.payload.items[0", #"expected "]" at column 18"#),
            ("[1, 2", #"expected "]" at column 6"#),
            ("$.", #"expected member name after "." at column 3"#),
            ("$.1", #"expected member name after "." at column 3"#),
            ("{a 1}", #"expected ":" at column 4"#),
            ("{1: 2}", #"expected member name or "}" at column 2"#),
            ("[1, )", #"expected expression after "," at column 5"#),
            ("len(1,, 2)", #"expected expression after "," at column 7"#),
            ("{a: }", #"expected expression after ":" at column 5"#),
            ("1 ? 2", #"expected ":" at column 6"#),
            ("1 2", "expected an operator or the end of the expression at column 3"),
            ("$.a )", #"unexpected ")" at column 5"#),
            ("foo(1)", #"unknown function "foo" at column 1"#),
            ("1 + bar($.x)", #"unknown function "bar" at column 5"#),
            ("upper", #"expected "(" after function "upper" at column 6"#),
            ("name", #"unknown name "name" (paths start with "$", strings are quoted) at column 1"#),
            ("len(1, 2)", #"function "len" takes 1 argument, got 2 at column 1"#),
            ("substring('a')", #"function "substring" takes 2 or 3 arguments, got 1 at column 1"#),
            ("now(1)", #"function "now" takes no arguments, got 1 at column 1"#),
            ("'abc", "unterminated string starting at column 1"),
            (#"1 + "a\q""#, #"invalid escape "\\q" at column 7"#),
            (#""\u12""#, "invalid unicode escape at column 2"),
            ("1 = 2", #"unexpected "=" (use "==" to compare) at column 3"#),
            ("1 & 2", #"unexpected "&" (use "&&") at column 3"#),
            ("1 | 2", #"unexpected "|" (use "||") at column 3"#),
            ("#", ##"unexpected character "#" at column 1"##),
            ("1e", "expected digits in the exponent of a number at column 3"),
            ("12abc", #"unexpected "a" after a number at column 3"#),
            ("99999999999999999999", "integer 99999999999999999999 is too large (the range is \(Int.min)...\(Int.max)) at column 1"),
        ]
    )
    func syntaxErrors(source: String, description: String) throws {
        let error = try #require(failure(source))
        #expect(error.phase == .syntax)
        #expect(error.description == description)
        #expect(error.path == "")
        #expect(error.subexpression == nil)
    }

    @Test(
        "an evaluation error names the failing sub-expression and the types involved",
        arguments: [
            ("$.payload.name - 1", #"cannot apply "-" to string "Ada" and integer 1 in `$.payload.name - 1` at column 1"#),
            (#""a" - 1"#, #"cannot apply "-" to string "a" and integer 1 in `"a" - 1` at column 1"#),
            ("1 + ($.payload.name * 2)", #"cannot apply "*" to string "Ada" and integer 2 in `$.payload.name * 2` at column 6"#),
            ("-$.payload.name", #"cannot apply "-" to string "Ada" in `-$.payload.name` at column 1"#),
            ("null + 1", #"cannot apply "+" to null and integer 1 in `null + 1` at column 1"#),
            ("$.payload.items < 3", #"cannot apply "<" to array [10,20,30] and integer 3 in `$.payload.items < 3` at column 1"#),
            ("'a' < 1", #"cannot apply "<" to string "a" and integer 1 in `'a' < 1` at column 1"#),
            ("$.payload.host.x", #"cannot read member "x" of string "example.com" in `$.payload.host.x` at column 1"#),
            ("$.payload.items['a']", #"cannot read member "a" of array [10,20,30] in `$.payload.items['a']` at column 1"#),
            ("$.payload.items[true]", #"cannot index array [10,20,30] with boolean true in `$.payload.items[true]` at column 1"#),
            ("$.payload.host[0]", #"cannot index string "example.com" with integer 0 in `$.payload.host[0]` at column 1"#),
            ("'x' + upper(1)", #""upper" expects a string as argument 1, got integer 1 in `upper(1)` at column 7"#),
            ("$.payload.n / 0", "division by zero in `$.payload.n / 0` at column 1"),
            ("1e308 * 10", "the result inf is not a finite number in `1e308 * 10` at column 1"),
            ("'é' + ($.payload.flag - 1)", #"cannot apply "-" to boolean true and integer 1 in `$.payload.flag - 1` at column 8"#),
        ]
    )
    func evaluationErrors(source: String, description: String) throws {
        let error = try #require(failure(source))
        #expect(error.phase == .evaluation)
        #expect(error.description == description)
    }

    @Test(
        "sub-expressions nested deeper than the limit are a syntax error, not a stack overflow",
        arguments: [
            String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000),
            "$" + String(repeating: ".a", count: 10_000),
            "$.x" + String(repeating: " + $.x", count: 10_000),
            "$.x" + String(repeating: " ?? $.x", count: 10_000),
            String(repeating: "-", count: 10_000) + "$.x",
            String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000),
        ]
    )
    func tooDeep(source: String) throws {
        let error = try #require(failure(source))
        #expect(error.phase == .syntax)
        #expect(error.message == "expression is nested too deeply")
    }

    @Test("long but shallow and constant expressions are fine")
    func deepButAllowed() throws {
        #expect(try evaluate(String(repeating: "(", count: 60) + "$.payload.n" + String(repeating: ")", count: 60)) == 41)
        #expect(try evaluate("1" + String(repeating: " + 1", count: 10_000)) == .integer(10_001))
        #expect(try evaluate("$.payload.n" + String(repeating: " + 1", count: 150)) == .integer(191))
    }

    @Test("long values are shortened in messages")
    func longValues() throws {
        let root: JSONValue = ["text": .string(String(repeating: "x", count: 100))]
        let error = try #require(failure("$.text - 1", root: root))
        #expect(error.message == #"cannot apply "-" to string "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... and integer 1"#)
    }
}
