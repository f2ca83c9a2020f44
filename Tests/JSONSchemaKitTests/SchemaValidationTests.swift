import JSONSchemaKit
import Testing

@Suite("Schema validation")
struct SchemaValidationTests {
    let schema = ProbeSettings.jsonSchema

    static let invalidValues: [(JSONValue, String)] = [
            (["url": "u", "interval": "fast"] as JSONValue, #"ports[1].configuration.interval: expected integer >= 1, got "fast""#),
            (["url": "u", "interval": 0], "ports[1].configuration.interval: expected integer >= 1, got 0"),
            (["url": "u", "interval": 1.5], "ports[1].configuration.interval: expected integer >= 1, got 1.5"),
            (["interval": 5], "ports[1].configuration.url: required field is missing"),
            (["url": ""], #"ports[1].configuration.url: expected string of at least 1 characters, got """#),
            (["url": "u", "method": "PUT"], #"ports[1].configuration.method: expected one of "GET", "HEAD", got "PUT""#),
            (["url": "u", "retry": ["attempts": 11]], "ports[1].configuration.retry.attempts: expected integer between 1 and 10, got 11"),
            (["url": "u", "retry": ["backoff": [1, "x"]]], #"ports[1].configuration.retry.backoff[1]: expected integer, got "x""#),
            (["url": "u", "headers": ["x-a": 1]], "ports[1].configuration.headers.x-a: expected string, got 1"),
            (["url": "u", "intervall": 5], "ports[1].configuration.intervall: unknown field (known fields: headers, interval, method, payload, retry, url)"),
            ("text", #"ports[1].configuration: expected object, got "text""#),
        ]

    @Test("invalid values are reported with their path and expectation", arguments: invalidValues)
    func violations(value: JSONValue, message: String) {
        let found = schema.violations(of: schema.applyingDefaults(to: value), at: "ports[1].configuration")
        #expect(found.map(\.description) == [message])
    }

    @Test("a valid configuration passes and gets its defaults")
    func validWithDefaults() throws {
        let value = try schema.validated(["url": "http://x", "payload": ["any": ["thing": true]]])
        #expect(value["interval"] == 1000)
        #expect(value["method"] == "GET")
        #expect(value["retry"] == ["attempts": 3, "backoff": [100, 200]])
        #expect(value["payload"] == ["any": ["thing": true]])
    }

    @Test("every violation is reported, not only the first")
    func allViolations() {
        let found = schema.violations(of: ["interval": -1, "method": 3], at: "")
        #expect(found.map(\.path).sorted() == ["interval", "method", "url"])
    }

    @Test("patterns are checked and member names that are not identifiers are quoted")
    func patternsAndQuotedNames() {
        var entry = JSONSchema(type: .string)
        entry.pattern = "^[a-z]+$"
        let map = JSONSchema.map(entry)
        let found = map.violations(of: ["a b": "ok", "c": "NO"], at: "labels")
        #expect(found.map(\.description) == [#"labels.c: expected string matching /^[a-z]+$/, got "NO""#])
        let quoted = map.violations(of: ["a b": "1"], at: "labels")
        #expect(quoted.map(\.path) == [#"labels["a b"]"#])
    }
}
