import Foundation
import JSONSchemaKit
import Testing

@Suite("Parsing JSON text into a JSONValue")
struct JSONParserTests {
    /// What `JSONDecoder` makes of the same text: the reference.
    func foundation(_ text: String) throws -> JSONValue {
        try JSONDecoder.forJSONValues().decode(JSONValue.self, from: Data(text.utf8))
    }

    static let documents = [
        #"{"a":"5","b":5,"c":5.5,"d":true,"e":null,"f":[1,"1",false,{"g":[]}],"h":{"i":{"j":"k"}},"l":-0.0,"m":1e3}"#,
        #" [ "true" , true,"null",null,"",0,"0" ] "#, #""text""#, "12", "-12", "12.25", "false", "null", "{}", "[]",
        "1.0", "1e2", "1E+2", "0.1e1", "2.5e-3", "-0", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "12345678901234567890", "1e18", "9.3e18", "123456789.125", "1e300", "4.9e-324",
        #""a\u00e9\ud83d\ude00\n\t\"\\\/ é😀""#, #"{"a":1,"a":2}"#, "\n\r\t{\"k\" :\n[ ]\t}\n",
        #"{"nested":{"deeper":[[{"k":"v"}],[],{},null,[1,[2,[3]]]]}}"#,
    ]

    @Test("gives what JSONDecoder gives, kind for kind", arguments: documents)
    func matchesFoundation(document: String) throws {
        let parsed = try JSONValue(parsing: Data(document.utf8))
        let reference = try foundation(document)
        #expect(parsed == reference)
        #expect(try parsed.jsonData() == reference.jsonData())
    }

    @Test("numbers: exact integers are integers in any notation, the rest doubles")
    func numberKinds() throws {
        #expect(try JSONValue(parsing: Data("1e2".utf8)) == .integer(100))
        #expect(try JSONValue(parsing: Data("-9223372036854775808".utf8)) == .integer(.min))
        #expect(try JSONValue(parsing: Data("0.5".utf8)) == .number(0.5))
        #expect(try JSONValue(parsing: Data("9223372036854775808".utf8)) == .number(9_223_372_036_854_775_808))
    }

    static let malformed: [(text: String, offset: Int, reason: String)] = [
        ("", 0, "unexpected end of input"),
        ("[1,2", 4, "unexpected end of input in an array"),
        (#"{"a" 1}"#, 5, "expected ':'"),
        (#"{"a":1,}"#, 7, "expected a string as object key"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("tru", 0, "expected 'true'"),
        ("01", 0, "leading zeros"),
        ("1.", 2, "expected a digit after '.'"),
        ("-", 1, "expected a digit"),
        ("1e", 2, "expected a digit in the exponent"),
        ("1E400", 0, "out of range"),
        (#""abc"#, 0, "unterminated string"),
        ("\"a\u{1}b\"", 2, "control character U+0001"),
        (#""\ud800""#, 7, "must be followed by a low one"),
        (#""\udc00""#, 7, "lone low surrogate"),
        (#""\x""#, 3, "invalid escape"),
        (#""\u12g4""#, 5, "four hex digits"),
        ("[] []", 3, "unexpected text after the value"),
        ("{\"a\":@}", 5, "unexpected character '@'"),
    ]

    @Test("malformed text is an error saying where and why", arguments: malformed)
    func errors(example: (text: String, offset: Int, reason: String)) {
        do {
            let value = try JSONValue(parsing: Data(example.text.utf8))
            Issue.record("parsed \(example.text) as \(value)")
        } catch {
            #expect(error.offset == example.offset, "\(error)")
            #expect(error.reason.contains(example.reason), "\(error)")
        }
    }

    @Test("invalid UTF-8 in a string is an error")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]
        #expect(throws: JSONParsingError.self) { try JSONValue(parsing: Data(bytes)) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(String.self, from: Data(bytes)) }
    }

    @Test("nesting deeper than 512 levels is an error, not a stack overflow")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect { try JSONValue(parsing: Data(deep.utf8)) } throws: { error in
            (error as? JSONParsingError)?.reason.contains("nested deeper than 512") ?? false
        }
        let fine = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue(parsing: Data(fine.utf8)) }
    }
}

@Suite("Decoding Codable values from a JSONValue")
struct JSONValueDecoderTests {
    struct Resource: Codable, Equatable {
        enum Phase: String, Codable { case pending = "Pending", ready = "Ready" }
        struct Port: Codable, Equatable {
            var name: String
            var schema: JSONValue
        }
        var name: String
        var replicas: Int
        var ratio: Double
        var weight: Float?
        var enabled: Bool
        var phase: Phase
        var labels: [String: String]
        var ports: [Port]
        var note: String?
        var missing: Int?
        var small: UInt8
        var created: Date
        var payload: Data
        var link: URL
        var matrix: [[Int]]
        var nothing: JSONValue?
    }

    static let text = #"""
        {"name":"a","replicas":3,"ratio":1,"weight":0.5,"enabled":true,"phase":"Ready","labels":{"k":"v"},
         "ports":[{"name":"in","schema":{"type":"object","properties":{"x":{"type":"integer"}}}}],
         "note":null,"small":255,"created":"2026-11-23T21:00:00Z","payload":"aGk=","link":"https://tinyflow.dev/x",
         "matrix":[[1,2],[],[3]],"nothing":null}
        """#

    @Test("gives what JSONDecoder gives for the same text")
    func matchesFoundation() throws {
        let foundation = JSONDecoder()
        foundation.dateDecodingStrategy = .iso8601
        let reference = try foundation.decode(Resource.self, from: Data(Self.text.utf8))
        let decoded = try JSONValueDecoder(dateDecodingStrategy: .iso8601).decode(Resource.self, from: Data(Self.text.utf8))
        #expect(decoded == reference)
        #expect(decoded.ports.first?.schema["properties"]?["x"]?["type"] == "integer")
        #expect(try JSONValue(parsing: Data(Self.text.utf8)).decode(as: Resource.self) == reference)
    }

    @Test("dates decode as JSONDecoder decodes them by default: Date's own Codable")
    func deferredDates() throws {
        let date = Date(timeIntervalSinceReferenceDate: 12.5)
        let text = try JSONEncoder().encode([date])
        #expect(try JSONValueDecoder().decode([Date].self, from: text) == [date])
        #expect(try JSONValueDecoder().decode([Date].self, from: text) == JSONDecoder().decode([Date].self, from: text))
    }

    @Test("errors carry the coding path and say what was expected")
    func errors() throws {
        var value = try JSONValue(parsing: Data(Self.text.utf8))
        value["ports"] = [["name": 5, "schema": [:]]]
        #expect { try value.decode(as: Resource.self) } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["ports", "Index 0", "name"]
                && context.debugDescription.contains("Expected to decode String but found number")
        }
        value = try JSONValue(parsing: Data(Self.text.utf8))
        value["replicas"] = nil
        #expect { try value.decode(as: Resource.self) } throws: { error in
            guard case DecodingError.keyNotFound(let key, _) = error else { return false }
            return key.stringValue == "replicas"
        }
        value = try JSONValue(parsing: Data(Self.text.utf8))
        value["small"] = 256
        #expect { try value.decode(as: Resource.self) } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["small"] && context.debugDescription.contains("not representable")
        }
        value = try JSONValue(parsing: Data(Self.text.utf8))
        value["ratio"] = "1"
        #expect(throws: DecodingError.self) { try value.decode(as: Resource.self) }
    }

    @Test("malformed text is a dataCorrupted error wrapping the parser's")
    func malformedText() {
        #expect { try JSONValueDecoder().decode([Int].self, from: Data("[1,".utf8)) } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.underlyingError is JSONParsingError
        }
    }
}
