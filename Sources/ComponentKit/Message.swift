public import Foundation

/// A port of a node, written `<node>:<port>`.
public struct PortAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The node's name.
    public var node: String
    /// The port's name.
    public var port: String

    /// Creates an address.
    public init(node: String, port: String) {
        self.node = node
        self.port = port
    }

    /// Parses `<node>:<port>`; `nil` if either part is missing.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(node: String(parts[0]), port: String(parts[1]))
    }

    public var description: String { "\(node):\(port)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = PortAddress(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected <node>:<port>, got \"\(text)\"")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The envelope every message travels in, within a module and across modules.
public struct Message: Sendable, Hashable, Codable {
    /// Unique per message; kept when a message is retried.
    public var id: String
    /// The output port it was sent from (absent for signals and tests).
    public var from: PortAddress?
    /// The input port it is delivered to.
    public var to: PortAddress?
    /// The content.
    public var payload: JSONValue
    /// After this instant the message is not delivered: it counts as expired.
    public var deadline: Date?
    /// Higher is delivered first when a consumer has a choice.
    public var priority: Int
    /// W3C trace context (`traceparent` header value).
    public var traceparent: String?
    /// How many edges the chain this message belongs to has crossed: 0 for a
    /// message a source (or a test) made, the handled message's count + 1 for
    /// one sent while handling a message. The runtime sets it when the message
    /// is sent and refuses it past the flow's `maxHops` (``defaultMaxHops``), so
    /// that a cycle of nodes cannot circulate a message for ever.
    public var hops: Int

    /// The hop limit of a flow whose TinyFlow sets no `spec.maxHops`, and of nodes in no flow.
    public static let defaultMaxHops = 256

    /// Creates a message with a fresh id.
    public init(
        id: String = UUID().uuidString, from: PortAddress? = nil, to: PortAddress? = nil, payload: JSONValue,
        deadline: Date? = nil, priority: Int = 0, traceparent: String? = nil, hops: Int = 0
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.payload = payload
        self.deadline = deadline
        self.priority = priority
        self.traceparent = traceparent
        self.hops = hops
    }

    private enum CodingKeys: String, CodingKey {
        case id, from, to, payload, deadline, priority, traceparent, hops
    }

    /// Decodes a message; one written before messages counted hops (no `hops`) has made 0.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        from = try container.decodeIfPresent(PortAddress.self, forKey: .from)
        to = try container.decodeIfPresent(PortAddress.self, forKey: .to)
        payload = try container.decode(JSONValue.self, forKey: .payload)
        deadline = try container.decodeIfPresent(Date.self, forKey: .deadline)
        priority = try container.decode(Int.self, forKey: .priority)
        traceparent = try container.decodeIfPresent(String.self, forKey: .traceparent)
        hops = try container.decodeIfPresent(Int.self, forKey: .hops) ?? 0
    }

    /// Encodes a message; `hops` only when it is not 0, so a source's message reads as before.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(from, forKey: .from)
        try container.encodeIfPresent(to, forKey: .to)
        try container.encode(payload, forKey: .payload)
        try container.encodeIfPresent(deadline, forKey: .deadline)
        try container.encode(priority, forKey: .priority)
        try container.encodeIfPresent(traceparent, forKey: .traceparent)
        if hops != 0 { try container.encode(hops, forKey: .hops) }
    }

    /// Decodes the payload as a component's message type.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try payload.decode(as: T.self)
    }

    /// Whether the deadline has passed at `now`.
    public func isExpired(at now: Date = Date()) -> Bool {
        guard let deadline else { return false }
        return deadline <= now
    }
}
