import ConfigurationReferences
import JSONSchemaKit
import Testing

@Suite("Configuration references: syntax and substitution")
struct ConfigurationSubstitutionTests {
    private func resolve(_ reference: ConfigurationReference, _ path: String) throws -> JSONValue {
        switch reference {
        case .secret(let key): .string("S(\(key.name)/\(key.key))")
        case .configMap(let key): .string("C(\(key.name)/\(key.key))")
        case .parameter("count"): .integer(3)
        case .parameter("object"): ["a": 1]
        case .parameter(let name): .string("P(\(name))")
        }
    }

    @Test("a string without a dollar sign is left alone")
    func plainString() throws {
        #expect(try ConfigurationSubstitution.segments(of: "hello {{ $.payload }}") == [.text("hello {{ $.payload }}")])
        #expect(try ConfigurationSubstitution.segments(of: "hello world") == nil)
        let value: JSONValue = ["url": "http://x", "n": 1, "list": ["a", true]]
        #expect(try ConfigurationSubstitution.substitute(value, at: "c", resolve: resolve) == value)
    }

    @Test("secret, configmap and param references are parsed", arguments: [
        ("${secret:db/password}", ConfigurationReference.secret(ObjectKeyReference(name: "db", key: "password"))),
        ("${configmap:app.settings/log_level}", .configMap(ObjectKeyReference(name: "app.settings", key: "log_level"))),
        ("${param:api-url}", .parameter("api-url")),
    ])
    func parsesReferences(text: String, reference: ConfigurationReference) throws {
        #expect(try ConfigurationSubstitution.segments(of: text) == [.reference(reference)])
        #expect(reference.description == text)
    }

    @Test("references inside text are put in as text; a whole-string reference keeps its JSON type")
    func substitutesInText() throws {
        let value: JSONValue = [
            "dsn": "postgres://app:${secret:db/password}@${configmap:db/host}:5432",
            "count": "${param:count}",
            "label": "n=${param:count}",
            "object": "${param:object}",
            "template": "{{ $.payload.name }} ${param:greeting}",
        ]
        let result = try ConfigurationSubstitution.substitute(value, at: "spec.ports[0].configuration", resolve: resolve)
        #expect(result == [
            "dsn": "postgres://app:S(db/password)@C(db/host):5432",
            "count": 3,
            "label": "n=3",
            "object": ["a": 1],
            "template": "{{ $.payload.name }} P(greeting)",
        ])
    }

    @Test("$${ is a literal ${, and nothing else is an escape")
    func escapes() throws {
        let value: JSONValue = ["a": "cost: $${secret:x/y} and $5 and $$5 and ${param:p}$", "b": "$${"]
        let result = try ConfigurationSubstitution.substitute(value, at: "", resolve: resolve)
        #expect(result == ["a": "cost: ${secret:x/y} and $5 and $$5 and P(p)$", "b": "${"])
        // An escaped reference is no reference.
        #expect(ConfigurationSubstitution.references(in: value, at: "").references.map(\.reference) == [.parameter("p")])
    }

    @Test("a bad reference is an error naming the path", arguments: [
        "${HOME}", "${secret:db}", "${secret:DB/password}", "${secret:db/pass word}", "${param:}", "x ${secret:db/key",
        "${vault:a/b}", "${secret:db/a/b}", "${secret:-db/key}",
    ])
    func syntaxErrors(text: String) {
        let value: JSONValue = ["nested": ["list": ["ok", .string(text)]]]
        #expect(throws: ReferenceSyntaxError.self) {
            _ = try ConfigurationSubstitution.substitute(value, at: "spec.ports[0].configuration", resolve: resolve)
        }
        let found = ConfigurationSubstitution.references(in: value, at: "spec.ports[0].configuration")
        #expect(found.errors.count == 1)
        #expect(found.errors.first?.path == "spec.ports[0].configuration.nested.list[1]")
    }

    @Test("references are listed with the paths of their strings, keys never substituted")
    func listsReferences() throws {
        let value: JSONValue = ["${secret:k/k}": "x", "b": ["${secret:db/password}", "${param:a} ${param:b}"], "odd key": "${configmap:c/k}"]
        let found = ConfigurationSubstitution.references(in: value, at: "c")
        #expect(found.errors.isEmpty)
        #expect(found.references.map(\.path) == ["c.b[0]", "c.b[1]", "c.b[1]", "c[\"odd key\"]"])
        let result = try ConfigurationSubstitution.substitute(value, at: "c", resolve: resolve)
        #expect(result["${secret:k/k}"] == "x")
    }

    @Test("what resolve throws is thrown")
    func resolveErrors() {
        struct Missing: Error {}
        #expect(throws: Missing.self) {
            _ = try ConfigurationSubstitution.substitute(["a": "${secret:db/x}"], at: "") { _, _ in throw Missing() }
        }
    }

    @Test("parameter values encode as Kubernetes encodes value and valueFrom")
    func parameterValueCoding() throws {
        for value in [
            ParameterValue.value(["a": 1]), .value("text"),
            .secretKeyRef(ObjectKeyReference(name: "db", key: "password")),
            .configMapKeyRef(ObjectKeyReference(name: "cfg", key: "url")),
        ] {
            let encoded = try JSONValue(encoding: value)
            #expect(try encoded.decode(as: ParameterValue.self) == value)
        }
        #expect(try JSONValue(encoding: ParameterValue.secretKeyRef(ObjectKeyReference(name: "db", key: "p")))
            == ["secretKeyRef": ["name": "db", "key": "p"]])
    }
}

@Suite("Redactor")
struct RedactorTests {
    @Test("every occurrence of a secret value becomes ***, longest values first")
    func redactsText() {
        let redactor = Redactor(secrets: ["hunter2", "hunter2-long", "abc"])
        #expect(redactor.redact("pw=hunter2, again hunter2; long hunter2-long") == "pw=***, again ***; long ***")
        // Shorter than the minimum: left alone.
        #expect(redactor.redact("abc") == "abc")
        #expect(Redactor(secrets: []).redact("hunter2") == "hunter2")
    }

    @Test("JSON values are redacted in strings and keys; JSON-escaped forms in text too")
    func redactsJSON() {
        let redactor = Redactor(secrets: ["s3cr\"et"])
        let value: JSONValue = ["a": "x s3cr\"et y", "s3cr\"et": [1, "s3cr\"et"]]
        #expect(redactor.redact(value) == ["a": "x *** y", "***": [1, "***"]])
        #expect(redactor.redact(JSONValue.string("s3cr\"et").jsonString) == "\"***\"")
    }

    @Test("a shared redaction keeps old values after new ones come, up to its capacity")
    func sharedRedaction() {
        let redaction = SecretRedaction(capacity: 2)
        redaction.add(["first-secret"])
        redaction.add(["second-secret"])
        #expect(redaction.redact("first-secret second-secret") == "*** ***")
        redaction.add(["third-secret", "no"])
        #expect(redaction.redact("first-secret second-secret third-secret no") == "first-secret *** *** no")
    }
}
