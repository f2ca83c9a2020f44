import Expressions
import JSONSchemaKit
import Testing

@Suite("Templates")
struct TemplateTests {
    @Test(
        "a string that is exactly one {{ expression }} takes the expression's JSON value",
        arguments: [
            ("{{ $.payload.n + 1 }}", .integer(42)),
            ("{{$.payload.ratio}}", .number(0.5)),
            ("{{ $.payload }}", message["payload"] ?? nil),
            ("{{ $.payload.items }}", [10, 20, 30]),
            ("{{ $.payload.flag }}", true),
            ("{{ $.payload.missing }}", nil),
            ("{{ $.payload.name }}", "Ada"),
            (#"{{ {"a": {"b": $.payload.n}} }}"#, ["a": ["b": 41]]),
            (#"{{ "}}" }}"#, "}}"),
            (#"{{ "{{" + "x" }}"#, "{{x"),
            ("{{ 1 + 1 }}", 2),
        ] as [(String, JSONValue)]
    )
    func keepsTypes(template: String, expected: JSONValue) throws {
        #expect(try Template(compiling: .string(template)).render(root: message) == expected)
    }

    @Test(
        "a string mixing text and {{ }} interpolates the string forms",
        arguments: [
            ("{{ $.payload.host }}/api", "example.com/api"),
            ("https://{{ $.payload.host }}/items/{{ $.payload.items[0] }}", "https://example.com/items/10"),
            ("n={{ $.payload.n }}, r={{$.payload.ratio}}", "n=41, r=0.5"),
            ("items: {{ $.payload.items }}", "items: [10,20,30]"),
            ("flag {{ $.payload.flag }} missing {{ $.payload.missing }}", "flag true missing null"),
            (" {{ 1 }}", " 1"),
            ("{{ 1 }}{{ 2 }}", "12"),
            ("{{ $.payload.name }}'s page", "Ada's page"),
            ("{{ {a: 1}}} and {{ [1]}}", #"{"a":1} and [1]"#),
            ("{{ $.payload.name }} }}", "Ada }}"),
            ("{{ upper($.payload.name) }}!", "ADA!"),
            ("no braces", "no braces"),
            ("{ single } and } and {", "{ single } and } and {"),
            ("", ""),
        ] as [(String, JSONValue)]
    )
    func interpolates(template: String, expected: JSONValue) throws {
        #expect(try Template(compiling: .string(template)).render(root: message) == expected)
    }

    @Test("a mapping builds the target's message; non-string leaves are copied as they are")
    func mapping() throws {
        let template = try Template(
            compiling: [
                "url": "{{ $.payload.host }}/api",
                "count": "{{ $.payload.n + 1 }}",
                "method": "GET",
                "retries": 3,
                "verbose": false,
                "headers": ["x-request-id": "{{ $.id }}", "accept": "application/json"],
                "tags": ["{{ $.payload.tags[0] }}", "fixed", ["{{ len($.payload.tags) }}"]],
                "body": "{{ $.payload }}",
                "none": nil,
            ], at: "mapping")
        let rendered = try template.render(root: message)
        #expect(
            rendered == [
                "url": "example.com/api",
                "count": 42,
                "method": "GET",
                "retries": 3,
                "verbose": false,
                "headers": ["x-request-id": "m-1", "accept": "application/json"],
                "tags": ["x", "fixed", [2]],
                "body": message["payload"] ?? nil,
                "none": nil,
            ])
        #expect(!template.isConstant)
    }

    @Test("a template without expressions is constant and renders as itself")
    func constant() throws {
        let source: JSONValue = ["a": [1, "two", ["three": nil]], "b": "{ not a template }", "c": "{{ 1 + 2 }}"]
        let template = try Template(compiling: source)
        #expect(template.isConstant)
        #expect(template.source == source)
        #expect(try template.render(root: message) == ["a": [1, "two", ["three": nil]], "b": "{ not a template }", "c": 3])
        #expect(try !Template(compiling: "{{ now() }}").isConstant)
    }

    @Test(
        "a compile error carries the JSON path of the leaf and the column in its string",
        arguments: [
            (["url": "{{ $.payload.host +}}"], #"mapping.url: expected expression after "+" at column 20"#),
            (["url": "x{{ $.payload.host + }}"], #"mapping.url: expected expression after "+" at column 22"#),
            (["headers": ["x-id": "{{ $.id"]], #"mapping.headers.x-id: expected "}}" at column 8"#),
            (["a": "{{ 1 }"], #"mapping.a: expected "}}" at column 6"#),
            (["a": "{{ 1 } }"], #"mapping.a: expected "}}" at column 6"#),
            (["list": [1, "{{ foo() }}"]], #"mapping.list[1]: unknown function "foo" at column 4"#),
            (["odd key": "{{ }}"], #"mapping["odd key"]: expected expression after "{{" at column 4"#),
            (["a": ["b": [["c": "ok {{ ( }}"]]]], #"mapping.a.b[0].c: expected expression after "(" at column 9"#),
            (["a": "{{ 'unterminated }}"], #"mapping.a: unterminated string starting at column 4"#),
        ] as [(JSONValue, String)]
    )
    func compileErrors(template: JSONValue, description: String) throws {
        do {
            _ = try Template(compiling: template, at: "mapping")
            Issue.record("expected \(template) not to compile")
        } catch {
            #expect(error.phase == .syntax)
            #expect(error.description == description)
        }
    }

    @Test("without a path prefix the leaf path starts at the template's root")
    func unprefixedPaths() throws {
        #expect(throws: ExpressionError.self) { try Template(compiling: ["a": ["{{ ) }}"]]) }
        do {
            _ = try Template(compiling: ["a": ["{{ ) }}"]])
        } catch {
            #expect(error.path == "a[0]")
            #expect(error.description == #"a[0]: expected expression at column 4"#)
        }
        do {
            _ = try Template(compiling: "{{ ) }}")
        } catch {
            #expect(error.description == #"expected expression at column 4"#)
        }
    }

    @Test(
        "an evaluation error carries the JSON path of the leaf",
        arguments: [
            (["count": "{{ $.payload.name * 2 }}"],
             #"mapping.count: cannot apply "*" to string "Ada" and integer 2 in `$.payload.name * 2` at column 4"#),
            (["url": ["{{ $.payload.host }}/{{ 1 / ($.payload.n - 41) }}"]],
             "mapping.url[0]: division by zero in `1 / ($.payload.n - 41)` at column 25"),
            (["deep": ["er": "{{ $.payload.host.x }}"]],
             #"mapping.deep.er: cannot read member "x" of string "example.com" in `$.payload.host.x` at column 4"#),
        ] as [(JSONValue, String)]
    )
    func renderErrors(template: JSONValue, description: String) throws {
        let compiled = try Template(compiling: template, at: "mapping")
        do {
            _ = try compiled.render(root: message)
            Issue.record("expected \(template) to fail")
        } catch {
            #expect(error.phase == .evaluation)
            #expect(error.description == description)
        }
    }
}
