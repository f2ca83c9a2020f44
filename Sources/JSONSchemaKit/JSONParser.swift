import Foundation

/// Why JSON text could not be parsed: what was wrong, and where.
public struct JSONParsingError: Error, Hashable, CustomStringConvertible {
    /// The byte offset of the problem in the input.
    public var offset: Int
    /// What was wrong, e.g. `expected ':' after an object key`.
    public var reason: String

    /// An error at `offset`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// Parses JSON text (RFC 8259) straight into a ``JSONValue``, without going through
/// `Codable`: several times faster than `JSONDecoder` for the same result.
///
/// The result is what `JSONDecoder` gives for ``JSONValue``: a number that is an exact
/// integer within `Int`'s range (`3`, `1e2`, `1.0`) is ``JSONValue/integer(_:)``, any other
/// ``JSONValue/number(_:)``; of repeated object keys the first wins; invalid UTF-8, lone
/// surrogates, control characters in strings, non-finite numbers and trailing text are
/// errors. Nesting deeper than ``maximumDepth`` is an error rather than a stack overflow.
enum JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    static let maximumDepth = 512

    static func parse(_ data: Data) throws(JSONParsingError) -> JSONValue {
        let result: Result<JSONValue, JSONParsingError> = data.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            do throws(JSONParsingError) {
                parser.skipWhitespace()
                let value = try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.position == parser.bytes.count else {
                    throw parser.error("unexpected text after the value")
                }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ reason: String) -> JSONParsingError { JSONParsingError(offset: position, reason: reason) }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(JSONParsingError) -> JSONValue {
            guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
            switch bytes[position] {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[position])))', expected a value")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParsingError) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - position >= count else { throw error("expected '\(word)'") }
            for index in 0..<count where bytes[position + index] != word.utf8Start[index] {
                throw error("expected '\(word)'")
            }
            position += count
        }

        mutating func object(depth: Int) throws(JSONParsingError) -> JSONValue {
            guard depth <= JSONParser.maximumDepth else { throw error("nested deeper than \(JSONParser.maximumDepth) levels") }
            position += 1  // {
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw error("expected a string as object key")
                }
                let key = try string()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw error("expected ':' after object key \"\(key)\"")
                }
                position += 1
                skipWhitespace()
                let member = try value(depth: depth)
                if members[key] == nil { members[key] = member }
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an object") }
                switch bytes[position] {
                case UInt8(ascii: ","):
                    position += 1
                    skipWhitespace()
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default:
                    throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws(JSONParsingError) -> JSONValue {
            guard depth <= JSONParser.maximumDepth else { throw error("nested deeper than \(JSONParser.maximumDepth) levels") }
            position += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an array") }
                switch bytes[position] {
                case UInt8(ascii: ","):
                    position += 1
                    skipWhitespace()
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(elements)
                default:
                    throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func string() throws(JSONParsingError) -> String {
            position += 1  // opening quote
            let start = position
            // The common case: no escapes, so the bytes are the string.
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = try utf8String(start..<position)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character U+\(hex(byte)) in a string must be escaped") }
                position += 1
            }
            var scalars = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: scalars, as: UTF8.self) else {
                        throw JSONParsingError(offset: start, reason: "a string is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    position += 1
                    try escape(into: &scalars)
                case 0..<0x20:
                    throw error("control character U+\(hex(byte)) in a string must be escaped")
                default:
                    scalars.append(byte)
                    position += 1
                }
            }
            throw JSONParsingError(offset: start - 1, reason: "unterminated string")
        }

        func utf8String(_ range: Range<Int>) throws(JSONParsingError) -> String {
            guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
                throw JSONParsingError(offset: range.lowerBound, reason: "a string is not valid UTF-8")
            }
            return text
        }

        mutating func escape(into scalars: inout [UInt8]) throws(JSONParsingError) {
            guard position < bytes.count else { throw error("unterminated escape sequence") }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(byte)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hexQuad()
                if (0xD800..<0xDC00).contains(code) {
                    guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                    else { throw error("a high surrogate \\u\(String(code, radix: 16)) must be followed by a low one") }
                    position += 2
                    let low = try hexQuad()
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw error("a high surrogate \\u\(String(code, radix: 16)) must be followed by a low one")
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw error("a lone low surrogate \\u\(String(code, radix: 16))")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
                scalars.append(contentsOf: String(scalar).utf8)
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(byte)))'")
            }
        }

        mutating func hexQuad() throws(JSONParsingError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw error("expected four hex digits after \\u") }
            var code: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("expected four hex digits after \\u")
                }
                code = code << 4 | UInt32(digit)
                position += 1
            }
            return code
        }

        mutating func number() throws(JSONParsingError) -> JSONValue {
            let start = position
            let negative = bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit") }
            if bytes[position] == UInt8(ascii: "0"), position + 1 < bytes.count, isDigit(bytes[position + 1]) {
                throw error("a number must not have leading zeros")
            }
            // Accumulate negatively: Int.min has no positive counterpart.
            var integer = 0
            var fitsInteger = true
            while position < bytes.count, isDigit(bytes[position]) {
                if fitsInteger {
                    let (shifted, overflow1) = integer.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) = shifted.subtractingReportingOverflow(Int(bytes[position] - UInt8(ascii: "0")))
                    if overflow1 || overflow2 { fitsInteger = false } else { integer = next }
                }
                position += 1
            }
            var isInteger = true
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit after '.'") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit in the exponent") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if isInteger, fitsInteger {
                if negative { return .integer(integer) }
                if integer != .min { return .integer(-integer) }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            guard let double = Double(text), double.isFinite else {
                throw JSONParsingError(offset: start, reason: "the number \(text) is out of range")
            }
            // An exact integer in range is an integer, whatever its notation (as JSONDecoder decodes it).
            if double == double.rounded(), double >= -9.223_372_036_854_775_808e18, double < 9.223_372_036_854_775_808e18 {
                return .integer(Int(double))
            }
            return .number(double)
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        func hex(_ byte: UInt8) -> String {
            let digits = String(byte, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
    }
}
