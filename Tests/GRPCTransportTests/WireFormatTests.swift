import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import Testing

@Suite("Deliver frames")
struct WireFormatTests {
    @Test("a batch of messages survives encoding and decoding with every field")
    func roundTrip() throws {
        let messages = [
            Message(
                id: "a", from: PortAddress(node: "n1", port: "out"), to: PortAddress(node: "n2", port: "in"),
                payload: ["int": -42, "double": 1.5, "text": "héllo", "list": [true, false, nil], "nested": ["k": []]],
                deadline: Date(timeIntervalSince1970: 1_800_000_000.25), priority: -3, traceparent: "00-abc-def-01"),
            Message(id: "b", payload: .string("")),
            Message(id: "c", payload: .integer(Int.max), priority: Int.min),
        ]
        var writer = ByteWriter()
        for (index, message) in messages.enumerated() {
            encodeEntry(
                sequence: UInt64(index * 1000), kind: index == 1 ? .request : .send, body: encodeMessageBody(message),
                into: &writer)
        }
        let entries = try DeliveryBatchDeserializer().deserialize(writer.bytes)
        #expect(entries.map(\.message) == messages)
        #expect(entries.map(\.sequence) == [0, 1000, 2000])
        #expect(entries.map(\.kind) == [.send, .request, .send])
    }

    @Test("acks with outcomes and replies survive encoding and decoding")
    func acks() throws {
        let acks = [
            DeliveryAck(sequence: 1, outcome: .accepted), DeliveryAck(sequence: 300, outcome: .failed("no such port")),
            DeliveryAck(sequence: UInt64.max, outcome: .reply(["ok": true])),
        ]
        let bytes: [UInt8] = try AckBatchSerializer().serialize(acks)
        let decoded = try AckBatchDeserializer().deserialize(bytes)
        #expect(decoded.map(\.sequence) == acks.map(\.sequence))
        #expect(decoded.map(\.outcome) == acks.map(\.outcome))
    }

    @Test("every truncation of a valid frame is rejected, never crashes")
    func truncated() throws {
        var writer = ByteWriter()
        encodeEntry(
            sequence: 7, kind: .send,
            body: encodeMessageBody(message(from: "s", ["a": [1, 2, "three"]], deadline: Date())), into: &writer)
        for length in 1..<writer.bytes.count {
            #expect(throws: (any Error).self) {
                _ = try DeliveryBatchDeserializer().deserialize(Array(writer.bytes.prefix(length)))
            }
        }
    }

    @Test("hostile lengths and nesting are rejected")
    func hostile() {
        // A string claiming 2^40 bytes.
        #expect(throws: (any Error).self) {
            _ = try DeliveryBatchDeserializer().deserialize([0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20])
        }
        // Arrays nested 10,000 deep.
        var deep: [UInt8] = [0, 0, 0, 0, 0]
        deep.append(contentsOf: Array(repeating: [6, 1], count: 10_000).joined())
        deep.append(0)
        #expect(throws: (any Error).self) { _ = try DeliveryBatchDeserializer().deserialize(deep) }
        // An unknown kind.
        #expect(throws: (any Error).self) { _ = try DeliveryBatchDeserializer().deserialize([1, 9]) }
    }

    @Test("replica addresses parse as IPv4, IPv6 or DNS targets", arguments: [
        ("127.0.0.1:80", true), ("[::1]:9000", true), ("host.svc.cluster.local:50051", true),
        ("nohost", false), (":80", false), ("host:99999", false), ("host:x", false),
    ])
    func addresses(address: String, valid: Bool) {
        #expect((resolvableTarget(address) != nil) == valid)
    }
}

@Suite("Batch bodies")
struct EncodedBodiesTests {
    @Test("a batch's bodies share one buffer and each reads back as its message")
    func bodies() throws {
        let messages = (0..<5).map { Message(id: "m\($0)", payload: .integer($0)) }
        var bodies = EncodedBodies(reservingCapacity: messages.count)
        for message in messages { bodies.append(message) }
        #expect(bodies.count == 5)
        for (index, message) in messages.enumerated() {
            #expect(Array(bodies[index]) == encodeMessageBody(message))
            let decoded = try Array(bodies[index]).withUnsafeBytes { buffer in
                var reader = ByteReader(buffer)
                return try reader.readMessage()
            }
            #expect(decoded.id == message.id)
            #expect(decoded.payload == message.payload)
        }
    }
}
