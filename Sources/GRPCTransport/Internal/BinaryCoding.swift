import ComponentKit
import Foundation
import JSONSchemaKit

/// Why bytes from a peer could not be decoded.
struct WireFormatError: Error, CustomStringConvertible {
    /// What was wrong with the bytes.
    var reason: String
    var description: String { "malformed frame: \(reason)" }
}

/// Appends the compact binary encoding of frames, messages and JSON values to a byte array.
///
/// Integers are LEB128 varints (signed ones zig-zagged), strings are a varint
/// byte count plus UTF-8, doubles are 8 little-endian bytes of their bit pattern.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func writeByte(_ byte: UInt8) { bytes.append(byte) }

    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func writeSigned(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func writeDouble(_ value: Double) {
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }

    mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func writeBytes(_ other: [UInt8]) { bytes.append(contentsOf: other) }

    // JSON value tags.
    static let tagNull: UInt8 = 0, tagFalse: UInt8 = 1, tagTrue: UInt8 = 2, tagInteger: UInt8 = 3
    static let tagNumber: UInt8 = 4, tagString: UInt8 = 5, tagArray: UInt8 = 6, tagObject: UInt8 = 7

    mutating func writeJSON(_ value: JSONValue) {
        switch value {
        case .null: writeByte(Self.tagNull)
        case .bool(let flag): writeByte(flag ? Self.tagTrue : Self.tagFalse)
        case .integer(let number):
            writeByte(Self.tagInteger)
            writeSigned(Int64(number))
        case .number(let number):
            writeByte(Self.tagNumber)
            writeDouble(number)
        case .string(let text):
            writeByte(Self.tagString)
            writeString(text)
        case .array(let elements):
            writeByte(Self.tagArray)
            writeVarint(UInt64(elements.count))
            for element in elements { writeJSON(element) }
        case .object(let members):
            writeByte(Self.tagObject)
            writeVarint(UInt64(members.count))
            for (key, member) in members {
                writeString(key)
                writeJSON(member)
            }
        }
    }

    // Message presence flags. `hasHops` came later: a frame without it (from an
    // older host, or of a message that made no hop) means 0 hops.
    static let hasFrom: UInt8 = 1, hasTo: UInt8 = 2, hasDeadline: UInt8 = 4, hasTraceparent: UInt8 = 8
    static let hasHops: UInt8 = 16

    /// Writes `[flags][id][from?][to?][deadline?][priority][traceparent?][hops?][payload]`.
    mutating func writeMessage(_ message: Message) {
        var flags: UInt8 = 0
        if message.from != nil { flags |= Self.hasFrom }
        if message.to != nil { flags |= Self.hasTo }
        if message.deadline != nil { flags |= Self.hasDeadline }
        if message.traceparent != nil { flags |= Self.hasTraceparent }
        if message.hops != 0 { flags |= Self.hasHops }
        writeByte(flags)
        writeString(message.id)
        if let from = message.from {
            writeString(from.node)
            writeString(from.port)
        }
        if let to = message.to {
            writeString(to.node)
            writeString(to.port)
        }
        if let deadline = message.deadline { writeDouble(deadline.timeIntervalSince1970) }
        writeSigned(Int64(message.priority))
        if let traceparent = message.traceparent { writeString(traceparent) }
        if message.hops != 0 { writeSigned(Int64(message.hops)) }
        writeJSON(message.payload)
    }
}

/// Reads what ``ByteWriter`` wrote, checking every length against the bytes left.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int = 0
    /// How deep JSON arrays and objects may nest before the frame is rejected.
    static let maximumDepth = 128

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var isAtEnd: Bool { offset >= buffer.count }
    var remaining: Int { buffer.count - offset }

    mutating func readByte() throws -> UInt8 {
        guard offset < buffer.count else { throw WireFormatError(reason: "unexpected end") }
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 64 else { throw WireFormatError(reason: "varint too long") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func readSigned() throws -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func readInt() throws -> Int {
        let value = try readSigned()
        guard let int = Int(exactly: value) else { throw WireFormatError(reason: "integer out of range") }
        return int
    }

    /// A count of items that each take at least one byte: never more than the bytes left.
    mutating func readCount() throws -> Int {
        let count = try readVarint()
        guard count <= UInt64(remaining) else { throw WireFormatError(reason: "count exceeds frame") }
        return Int(count)
    }

    mutating func readDouble() throws -> Double {
        guard remaining >= 8 else { throw WireFormatError(reason: "unexpected end in number") }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(buffer[offset + index]) << (8 * UInt64(index)) }
        offset += 8
        return Double(bitPattern: bits)
    }

    mutating func readString() throws -> String {
        let count = try readCount()
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
        offset += count
        return String(decoding: slice, as: UTF8.self)
    }

    mutating func readJSON(depth: Int = 0) throws -> JSONValue {
        guard depth <= Self.maximumDepth else { throw WireFormatError(reason: "JSON nested too deeply") }
        switch try readByte() {
        case ByteWriter.tagNull: return .null
        case ByteWriter.tagFalse: return .bool(false)
        case ByteWriter.tagTrue: return .bool(true)
        case ByteWriter.tagInteger: return .integer(try readInt())
        case ByteWriter.tagNumber: return .number(try readDouble())
        case ByteWriter.tagString: return .string(try readString())
        case ByteWriter.tagArray:
            let count = try readCount()
            var elements: [JSONValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try readJSON(depth: depth + 1)) }
            return .array(elements)
        case ByteWriter.tagObject:
            let count = try readCount()
            var members = [String: JSONValue](minimumCapacity: count)
            for _ in 0..<count {
                let key = try readString()
                members[key] = try readJSON(depth: depth + 1)
            }
            return .object(members)
        case let tag:
            throw WireFormatError(reason: "unknown JSON tag \(tag)")
        }
    }

    mutating func readMessage() throws -> Message {
        let flags = try readByte()
        let id = try readString()
        var from: PortAddress?
        var to: PortAddress?
        var deadline: Date?
        var traceparent: String?
        if flags & ByteWriter.hasFrom != 0 { from = PortAddress(node: try readString(), port: try readString()) }
        if flags & ByteWriter.hasTo != 0 { to = PortAddress(node: try readString(), port: try readString()) }
        if flags & ByteWriter.hasDeadline != 0 {
            deadline = Date(timeIntervalSince1970: try readDouble())
        }
        let priority = try readInt()
        if flags & ByteWriter.hasTraceparent != 0 { traceparent = try readString() }
        let hops = flags & ByteWriter.hasHops != 0 ? try readInt() : 0
        let payload = try readJSON()
        return Message(
            id: id, from: from, to: to, payload: payload, deadline: deadline, priority: priority,
            traceparent: traceparent, hops: hops)
    }
}
