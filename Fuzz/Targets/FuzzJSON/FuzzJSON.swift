import Foundation
import FuzzSupport
import JSONSchemaKit

/// Fuzzes the JSON parser (`JSONValue(parsing:)`), which reads every JSON body the control
/// plane receives and every JSON file Tinyflow loads: any bytes either parse or throw a
/// `JSONParsingError`, and what parses writes back (`jsonData()`) to text that parses to
/// the same value.
@main
enum FuzzJSON {
    static func main() {
        FuzzDriver.main("FuzzJSON", test)
    }

    static func test(_ input: UnsafeRawBufferPointer) {
        let data = Data(input)
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            precondition(error.offset >= 0 && error.offset <= data.count, "error offset \(error.offset) outside the input")
            return
        }
        let written: Data
        do {
            written = try value.jsonData()
        } catch {
            preconditionFailure("a parsed value does not write back: \(error)")
        }
        do {
            let reparsed = try JSONValue(parsing: written)
            precondition(reparsed == value, "round trip changed the value: \(value.jsonString) -> \(reparsed.jsonString)")
        } catch {
            preconditionFailure("written JSON does not parse: \(error): \(String(decoding: written, as: UTF8.self))")
        }
    }
}
