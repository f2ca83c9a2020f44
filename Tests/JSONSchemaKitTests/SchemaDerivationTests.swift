import JSONSchemaKit
import Testing

/// How a probe retries.
@Schema
struct ProbeRetry: Codable, Sendable, Equatable {
    /// Attempts in all.
    @SchemaField(minimum: 1, maximum: 10)
    var attempts: Int = 3
    /// Waits between attempts, in milliseconds.
    var backoff: [Int] = [100, 200]
}

/// An HTTP method.
@Schema
enum ProbeMethod: String, Codable, Sendable {
    case get = "GET"
    case head = "HEAD"
}

/// Settings of a probe.
@Schema
struct ProbeSettings: Codable, Sendable, Equatable {
    /// The URL to probe.
    @SchemaField(minLength: 1, format: "uri")
    var url: String
    /// The method.
    var method: ProbeMethod = .get
    /// Milliseconds between probes.
    @SchemaField(minimum: 1)
    var interval: Int = 1000
    /// Retry behaviour.
    var retry: ProbeRetry = ProbeRetry()
    /// Extra headers.
    var headers: [String: String]?
    /// Free-form data attached to each result.
    var payload: JSONValue?
}

@Schema
enum Level: Int, Codable, Sendable {
    case low = 1, mid, high = 10
}

@Suite("@Schema derivation")
struct SchemaDerivationTests {
    @Test("a nested configuration type yields the expected JSON Schema")
    func nestedSchema() {
        let expected: JSONValue = [
            "type": "object",
            "description": "Settings of a probe.",
            "additionalProperties": false,
            "required": ["url"],
            "properties": [
                "url": ["type": "string", "description": "The URL to probe.", "minLength": 1, "format": "uri"],
                "method": [
                    "type": "string", "description": "The method.", "enum": ["GET", "HEAD"], "default": "GET",
                ],
                "interval": [
                    "type": "integer", "description": "Milliseconds between probes.", "minimum": 1, "default": 1000,
                ],
                "retry": [
                    "type": "object",
                    "description": "Retry behaviour.",
                    "additionalProperties": false,
                    "default": ["attempts": 3, "backoff": [100, 200]],
                    "properties": [
                        "attempts": [
                            "type": "integer", "description": "Attempts in all.", "minimum": 1, "maximum": 10,
                            "default": 3,
                        ],
                        "backoff": [
                            "type": "array", "description": "Waits between attempts, in milliseconds.",
                            "items": ["type": "integer"], "default": [100, 200],
                        ],
                    ],
                ],
                "headers": [
                    "type": "object", "description": "Extra headers.", "additionalProperties": ["type": "string"],
                ],
                "payload": ["description": "Free-form data attached to each result."],
            ],
        ]
        #expect(ProbeSettings.jsonSchema.jsonValue == expected)
    }

    @Test("enums with Int raw values list their raw values")
    func intEnum() {
        #expect(Level.jsonSchema.jsonValue == ["type": "integer", "enum": [1, 2, 10]])
    }

    @Test("absent members decode to their declared defaults")
    func decodingUsesDefaults() throws {
        let given: JSONValue = ["url": "http://example.test", "retry": ["attempts": 5]]
        let settings = try given.decode(as: ProbeSettings.self)
        #expect(settings.interval == 1000)
        #expect(settings.method == .get)
        #expect(settings.retry == ProbeRetry(attempts: 5, backoff: [100, 200]))
        #expect(settings.headers == nil)
    }

    @Test("a missing required member still fails to decode")
    func requiredMemberMissing() {
        let given: JSONValue = ["interval": 5]
        #expect(throws: DecodingError.self) {
            try given.decode(as: ProbeSettings.self)
        }
    }

    @Test("a schema document reads back into the same schema")
    func documentRoundTrip() throws {
        let schema = ProbeSettings.jsonSchema
        #expect(try JSONSchema(jsonValue: schema.jsonValue) == schema)
    }

    @Test("the default configuration is built from member defaults")
    func defaultConfiguration() {
        #expect(
            ProbeRetry.jsonSchema.defaultConfiguration == ["attempts": 3, "backoff": [100, 200]])
    }
}
