import ComponentKit
import Foundation
import GRPCCore
import JSONSchemaKit
import ModuleHostAPI

/// The `tinyflow.ModuleHost` service's methods.
enum ModuleHostMethods {
    static let service = ServiceDescriptor(fullyQualifiedService: "tinyflow.ModuleHost")
    static let deliver = MethodDescriptor(service: service, method: "Deliver")
    static let catalogue = MethodDescriptor(service: service, method: "Catalogue")
    static let syncNodes = MethodDescriptor(service: service, method: "SyncNodes")
    static let watchNodeStatus = MethodDescriptor(service: service, method: "WatchNodeStatus")
    static let recentMessages = MethodDescriptor(service: service, method: "RecentMessages")
    static let context = MethodDescriptor(service: service, method: "Context")
    static let deadLetters = MethodDescriptor(service: service, method: "DeadLetters")
}

/// Whether an entry of a `Deliver` batch is a one-way message or a request.
enum DeliveryKind: UInt8, Sendable {
    case send = 0
    case request = 1
}

/// One message of an inbound `Deliver` batch, as the server decodes it.
struct DeliveryEntry: Sendable {
    /// The sender's sequence number, echoed in the ack.
    var sequence: UInt64
    var kind: DeliveryKind
    var message: Message
}

/// A `Deliver` batch the client already encoded, entry by entry, in the
/// sending tasks: `[varint sequence][kind][message]` repeated to the end.
struct EncodedBatch: Sendable {
    var bytes: [UInt8]
    var count: Int
}

extension EncodedBatch {
    /// An empty frame with room for `capacity` bytes.
    init(reservingCapacity capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
        count = 0
    }

    /// Appends one entry, `[varint sequence][kind][body]`, in place.
    mutating func append(sequence: UInt64, kind: DeliveryKind, body: ArraySlice<UInt8>) {
        var writer = ByteWriter(capacity: 0)
        swap(&writer.bytes, &bytes)
        encodeEntry(sequence: sequence, kind: kind, body: body, into: &writer)
        swap(&writer.bytes, &bytes)
        count += 1
    }
}

/// What happened to one delivered message.
enum DeliveryOutcome: Sendable, Hashable {
    /// The destination node accepted the message.
    case accepted
    /// The remote host could not deliver it; the reason says why.
    case failed(String)
    /// The reply to a request.
    case reply(JSONValue)
}

/// One ack of a `Deliver` answer.
struct DeliveryAck: Sendable {
    var sequence: UInt64
    var outcome: DeliveryOutcome
}

/// Encodes one delivery entry as it goes into an ``EncodedBatch``.
func encodeEntry(sequence: UInt64, kind: DeliveryKind, body: ArraySlice<UInt8>, into writer: inout ByteWriter) {
    writer.writeVarint(sequence)
    writer.writeByte(kind.rawValue)
    writer.bytes.append(contentsOf: body)
}

/// Encodes one delivery entry whose body is a whole array.
func encodeEntry(sequence: UInt64, kind: DeliveryKind, body: [UInt8], into writer: inout ByteWriter) {
    encodeEntry(sequence: sequence, kind: kind, body: body[...], into: &writer)
}

/// The encoded bodies of a batch's messages, back to back in one buffer: one
/// allocation per batch instead of one per message.
struct EncodedBodies: Sendable {
    private(set) var bytes: [UInt8]
    /// Where each body ends in `bytes`.
    private(set) var ends: [Int]

    /// No bodies yet, with room for `count` of them.
    init(reservingCapacity count: Int) {
        bytes = []
        bytes.reserveCapacity(count * 64)
        ends = []
        ends.reserveCapacity(count)
    }

    var count: Int { ends.count }

    /// Encodes `message` after the others.
    mutating func append(_ message: Message) {
        var writer = ByteWriter(capacity: 0)
        swap(&writer.bytes, &bytes)
        writer.writeMessage(message)
        swap(&writer.bytes, &bytes)
        ends.append(bytes.count)
    }

    /// The encoded size of the last body appended.
    var lastBodySize: Int {
        guard let last = ends.last else { return 0 }
        return last - (ends.count > 1 ? ends[ends.count - 2] : 0)
    }

    /// Removes the last body appended.
    mutating func removeLast() {
        guard ends.popLast() != nil else { return }
        bytes.removeSubrange((ends.last ?? 0)...)
    }

    /// Appends a body encoded elsewhere.
    mutating func appendEncoded(_ body: [UInt8]) {
        bytes.append(contentsOf: body)
        ends.append(bytes.count)
    }

    /// The body of the message at `index`.
    subscript(index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }
}

/// Encodes a message's body (without sequence and kind): done in the sending task.
func encodeMessageBody(_ message: Message) -> [UInt8] {
    var writer = ByteWriter(capacity: 96)
    writer.writeMessage(message)
    return writer.bytes
}

// MARK: - Serializers for the hot path

/// Client side: writes an already encoded batch as it is.
struct EncodedBatchSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: EncodedBatch) throws -> Bytes {
        Bytes(message.bytes)
    }
}

/// Server side: decodes a `Deliver` batch into its entries.
struct DeliveryBatchDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [DeliveryEntry] {
        try serializedMessageBytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer)
            var entries: [DeliveryEntry] = []
            while !reader.isAtEnd {
                let sequence = try reader.readVarint()
                guard let kind = DeliveryKind(rawValue: try reader.readByte()) else {
                    throw WireFormatError(reason: "unknown delivery kind")
                }
                entries.append(DeliveryEntry(sequence: sequence, kind: kind, message: try reader.readMessage()))
            }
            return entries
        }
    }
}

/// Server side: encodes a batch of acks.
struct AckBatchSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [DeliveryAck]) throws -> Bytes {
        var writer = ByteWriter(capacity: message.count * 3)
        for ack in message {
            writer.writeVarint(ack.sequence)
            switch ack.outcome {
            case .accepted:
                writer.writeByte(0)
            case .failed(let reason):
                writer.writeByte(1)
                writer.writeString(reason)
            case .reply(let value):
                writer.writeByte(2)
                writer.writeJSON(value)
            }
        }
        return Bytes(writer.bytes)
    }
}

/// Client side: decodes a batch of acks.
struct AckBatchDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [DeliveryAck] {
        try serializedMessageBytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer)
            var acks: [DeliveryAck] = []
            while !reader.isAtEnd {
                let sequence = try reader.readVarint()
                let outcome: DeliveryOutcome
                switch try reader.readByte() {
                case 0: outcome = .accepted
                case 1: outcome = .failed(try reader.readString())
                case 2: outcome = .reply(try reader.readJSON())
                case let tag: throw WireFormatError(reason: "unknown ack tag \(tag)")
                }
                acks.append(DeliveryAck(sequence: sequence, outcome: outcome))
            }
            return acks
        }
    }
}

// MARK: - JSON for control calls

/// Serializes a `Codable` control-call message as JSON.
struct JSONMessageSerializer<Value: Encodable & Sendable>: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: Value) throws -> Bytes {
        Bytes(try JSONEncoder().encode(message))
    }
}

/// Deserializes a `Codable` control-call message from JSON.
struct JSONMessageDeserializer<Value: Decodable & Sendable>: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Value {
        let data = serializedMessageBytes.withUnsafeBytes { Data($0) }
        do {
            return try JSONValueDecoder().decode(Value.self, from: data)
        } catch {
            throw RPCError(code: .invalidArgument, message: "malformed \(Value.self): \(error)")
        }
    }
}

/// The empty request of `Catalogue`.
struct EmptyRequest: Codable, Sendable {}

/// `WatchNodeStatus`' request: how often, at most, the client wants reports.
struct WatchStatusRequest: Codable, Sendable {
    var intervalMilliseconds: Int64
}

/// `RecentMessages`' request.
struct RecentMessagesRequest: Codable, Sendable {
    var node: String
}
