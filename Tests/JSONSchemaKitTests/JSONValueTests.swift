import Foundation
import JSONSchemaKit
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("integers and floating-point numbers stay distinct through JSON")
    func numbersKeepTheirKind() throws {
        let text = #"{"count":3,"ratio":0.5,"big":9007199254740993,"nested":[true,null,"x"]}"#
        let value = try JSONValue(parsing: Data(text.utf8))
        #expect(value["count"] == .integer(3))
        #expect(value["ratio"] == .number(0.5))
        #expect(value["big"] == .integer(9_007_199_254_740_993))
        #expect(value["nested"] == [true, nil, "x"])
        #expect(try JSONValue(parsing: value.jsonData()) == value)
    }

    @Test("encoding and decoding Codable values")
    func codableBridge() throws {
        struct Point: Codable, Equatable { var x: Int; var label: String? }
        let value = try JSONValue(encoding: Point(x: 4, label: "a"))
        #expect(value == ["x": 4, "label": "a"])
        #expect(try value.decode(as: Point.self) == Point(x: 4, label: "a"))
    }

    @Test("rendering is deterministic: keys are sorted")
    func sortedKeys() {
        let value: JSONValue = ["b": 1, "a": ["d": 2, "c": 3]]
        #expect(value.jsonString == #"{"a":{"c":3,"d":2},"b":1}"#)
    }
}

@Suite("JSONValue decoding with typed scalars")
struct TypedScalarDecodingTests {
    static let documents = [
        #"{"a":"5","b":5,"c":5.5,"d":true,"e":null,"f":[1,"1",false,{"g":[]}],"h":{"i":{"j":"k"}},"l":-0.0,"m":1e3}"#,
        #"["true",true,"null",null,"",0,"0"]"#, #""text""#, "12", "12.25", "false", "null",
    ]

    @Test("gives the same values as the decoder-agnostic order, kind for kind", arguments: documents)
    func sameValues(document: String) throws {
        let data = Data(document.utf8)
        let plain = try JSONDecoder().decode(JSONValue.self, from: data)
        let typed = try JSONDecoder.forJSONValues().decode(JSONValue.self, from: data)
        #expect(typed == plain)
        #expect(try typed.jsonData() == plain.jsonData())
    }

    @Test("keeps strings that look like numbers strings, and integers integers")
    func kinds() throws {
        let value = try JSONDecoder.forJSONValues().decode(JSONValue.self, from: Data(#"{"s":"5","i":5,"n":5.5}"#.utf8))
        #expect(value == ["s": "5", "i": 5, "n": 5.5])
        guard case .object(let fields) = value, case .integer? = fields["i"], case .number? = fields["n"], case .string? = fields["s"] else {
            Issue.record("unexpected kinds in \(value)")
            return
        }
    }
}

@Suite("JSON text of a JSONValue")
struct JSONTextTests {
    /// What Foundation's encoder writes with the same options: the reference.
    func foundation(_ value: JSONValue) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static let samples: [JSONValue] = [
        nil, true, false, 0, -7, .integer(Int.max), .integer(Int.min),
        [5.0, 1e-5, 1e20, 0.1, -0.0, 1.5, 123456789.125, 1e300, 2.5e-300, 9007199254740993.0, 1e16, 1e15, 123.0, -2.75, 4.0e-320],
        ["b": 1, "a": 2, "B": 3, "é": 4, "aa": 5, "a1": 6, "a10": 7, "a2": 8, "_": 9, "Z": 10, "": 11, "😀": 12, "ä": 13],
        ["\u{0}\u{1}\u{1f}\"\\/\n\r\t\u{8}\u{c}\u{7f}\u{2028}é😀", "", "plain"],
        ["nested": ["deeper": [["k": "v"], [], [:], nil]]],
    ]

    @Test("is byte for byte what JSONEncoder writes with sorted keys", arguments: samples)
    func matchesFoundation(value: JSONValue) throws {
        #expect(try value.jsonData() == foundation(value))
    }

    @Test("matches JSONEncoder for random doubles, and round-trips them")
    func randomDoubles() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let value = JSONValue.number(Double(bitPattern: generator.next()))
            guard case .number(let number) = value, number.isFinite else { continue }
            #expect(try value.jsonData() == foundation(value), "\(number)")
        }
    }

    @Test("a non-finite number is an error, as with JSONEncoder")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try JSONValue.number(.infinity).jsonData() }
        #expect(throws: EncodingError.self) { try JSONValue.number(.nan).jsonData() }
    }
}
