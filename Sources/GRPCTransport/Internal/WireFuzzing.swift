import ComponentKit
import Foundation
import JSONSchemaKit
import ModuleHostAPI

/// The wire decoders as the fuzz target `FuzzWire` (Fuzz/Targets) drives them: package
/// access, not API. Every frame a peer can send either decodes or throws; a decoded batch
/// must encode back to a frame that decodes to the same entries.
package enum WireFuzzing {
    /// Decodes `frame` with the decoder `selector` picks (modulo their number): `Deliver`
    /// batches, ack batches, then the JSON bodies of the control calls and their answers.
    package static func decode(selector: UInt8, frame: UnsafeRawBufferPointer) {
        let bytes = Array(frame)
        switch selector % 14 {
        case 0: deliveryBatch(bytes)
        case 1: ackBatch(bytes)
        case 2: json(DesiredNodes.self, bytes)
        case 3: json(EmptyRequest.self, bytes)
        case 4: json(RecentMessagesRequest.self, bytes)
        case 5: json(ContextRequest.self, bytes)
        case 6: json(WatchStatusRequest.self, bytes)
        case 7: json(ModuleCatalogue.self, bytes)
        case 8: json(SyncResult.self, bytes)
        case 9: json([Message].self, bytes)
        case 10: json(ContextResponse.self, bytes)
        case 12: json(DeadLetterRequest.self, bytes)
        case 13: json(DeadLetterResponse.self, bytes)
        default: json([NodeStatusReport].self, bytes)
        }
    }

    private static func deliveryBatch(_ bytes: [UInt8]) {
        guard let entries = try? DeliveryBatchDeserializer().deserialize(bytes) else { return }
        var batch = EncodedBatch(reservingCapacity: bytes.count)
        for entry in entries {
            batch.append(sequence: entry.sequence, kind: entry.kind, body: encodeMessageBody(entry.message)[...])
        }
        let again: [DeliveryEntry]
        do {
            again = try DeliveryBatchDeserializer().deserialize(EncodedBatchSerializer().serialize(batch) as [UInt8])
        } catch {
            preconditionFailure("a re-encoded Deliver batch does not decode: \(error)")
        }
        precondition(again.count == entries.count, "re-encoded batch has \(again.count) entries, not \(entries.count)")
        for (first, second) in zip(entries, again) {
            precondition(first.sequence == second.sequence && first.kind == second.kind, "entry header changed in a round trip")
            precondition(same(first.message, second.message), "message changed in a round trip: \(first.message) -> \(second.message)")
        }
    }

    private static func ackBatch(_ bytes: [UInt8]) {
        guard let acks = try? AckBatchDeserializer().deserialize(bytes) else { return }
        let again: [DeliveryAck]
        do {
            again = try AckBatchDeserializer().deserialize(AckBatchSerializer().serialize(acks) as [UInt8])
        } catch {
            preconditionFailure("a re-encoded ack batch does not decode: \(error)")
        }
        precondition(again.count == acks.count, "re-encoded ack batch has \(again.count) acks, not \(acks.count)")
        for (first, second) in zip(acks, again) {
            precondition(first.sequence == second.sequence, "ack sequence changed in a round trip")
            switch (first.outcome, second.outcome) {
            case (.accepted, .accepted): break
            case (.failed(let a), .failed(let b)): precondition(a == b, "ack reason changed in a round trip")
            case (.reply(let a), .reply(let b)): precondition(containsNaN(a) || a == b, "ack reply changed in a round trip")
            default: preconditionFailure("ack outcome changed in a round trip")
            }
        }
    }

    private static func json<Value: Codable & Sendable>(_ type: Value.Type, _ bytes: [UInt8]) {
        guard let value = try? JSONMessageDeserializer<Value>().deserialize(bytes) else { return }
        _ = try? JSONMessageSerializer<Value>().serialize(value) as [UInt8]
    }

    /// Field by field, with NaN equal to itself (a frame may carry any bit pattern).
    private static func same(_ a: Message, _ b: Message) -> Bool {
        a.id == b.id && a.from == b.from && a.to == b.to && a.priority == b.priority && a.traceparent == b.traceparent
            && a.hops == b.hops
            && sameInstant(a.deadline, b.deadline)
            && (containsNaN(a.payload) || a.payload == b.payload)
    }

    /// Equal up to the rounding of `Date`'s conversion between 1970 and 2001 (a frame carries
    /// seconds since 1970, `Date` keeps seconds since 2001).
    private static func sameInstant(_ a: Date?, _ b: Date?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        let x = a.timeIntervalSince1970, y = b.timeIntervalSince1970
        if x.isNaN || y.isNaN { return x.isNaN && y.isNaN }
        return x == y || abs(x - y) <= 1e-6 + 1e-12 * max(abs(x), abs(y))
    }

    private static func containsNaN(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.isNaN
        case .array(let elements): return elements.contains(where: containsNaN)
        case .object(let members): return members.values.contains(where: containsNaN)
        default: return false
        }
    }
}
