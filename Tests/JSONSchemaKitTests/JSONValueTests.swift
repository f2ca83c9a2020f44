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
