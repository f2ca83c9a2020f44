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
