public import ComponentKit
public import Foundation
import JSONSchemaKit

/// The `body` column of stored messages (SQLite's and PostgreSQL's): a `Message` as JSON text, the shape its `Codable`
/// conformance gives with `JSONEncoder`'s defaults (`from`/`to` as `node:port`, the deadline
/// as seconds since 2001 — `Date`'s own encoding —, `hops` only when not 0), written and read
/// without `Codable`: through ``JSONValue``'s writer and parser, several times faster than
/// `JSONEncoder` and `JSONDecoder`, which were a third of a durable hop's time.
///
/// Reads every body `JSONEncoder` wrote (keys in any order); what it writes, `JSONDecoder`
/// reads as the same message (keys sorted, as `JSONValue` writes them).
package enum MessageBody {
    /// The message as JSON text. Throws for a payload with a non-finite number.
    package static func encode(_ message: Message) throws -> String {
        var fields: [String: JSONValue] = [
            "id": .string(message.id), "payload": message.payload, "priority": .integer(message.priority),
        ]
        if let from = message.from { fields["from"] = .string(from.description) }
        if let to = message.to { fields["to"] = .string(to.description) }
        if let deadline = message.deadline { fields["deadline"] = .number(deadline.timeIntervalSinceReferenceDate) }
        if let traceparent = message.traceparent { fields["traceparent"] = .string(traceparent) }
        if message.hops != 0 { fields["hops"] = .integer(message.hops) }
        return String(decoding: try JSONValue.object(fields).jsonData(), as: UTF8.self)
    }

    /// The message in `body`, or why it is not one (as `Message`'s `Decodable` conformance would refuse it).
    package static func decode(_ body: Data) throws -> Message {
        guard case .object(let fields) = try JSONValue(parsing: body) else { throw Unreadable("not a JSON object") }
        guard case .string(let id)? = fields["id"] else { throw Unreadable("no id") }
        guard let payload = fields["payload"] else { throw Unreadable("no payload") }
        guard case .integer(let priority)? = fields["priority"] else { throw Unreadable("no integer priority") }
        return Message(
            id: id, from: try address(fields["from"], "from"), to: try address(fields["to"], "to"), payload: payload,
            deadline: try deadline(fields["deadline"]), priority: priority, traceparent: try text(fields["traceparent"], "traceparent"),
            hops: try hops(fields["hops"]))
    }

    /// Why a body is not a message.
    package struct Unreadable: Error, CustomStringConvertible {
        package var description: String
        package init(_ description: String) { self.description = description }
    }

    private static func text(_ value: JSONValue?, _ key: String) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw Unreadable("\(key) is not a string")
        }
    }

    private static func address(_ value: JSONValue?, _ key: String) throws -> PortAddress? {
        guard let text = try text(value, key) else { return nil }
        guard let address = PortAddress(text) else { throw Unreadable("\(key) is not <node>:<port>") }
        return address
    }

    private static func deadline(_ value: JSONValue?) throws -> Date? {
        switch value {
        case nil, .null?: return nil
        case .integer(let seconds)?: return Date(timeIntervalSinceReferenceDate: Double(seconds))
        case .number(let seconds)?: return Date(timeIntervalSinceReferenceDate: seconds)
        default: throw Unreadable("deadline is not a number")
        }
    }

    private static func hops(_ value: JSONValue?) throws -> Int {
        switch value {
        case nil, .null?: return 0
        case .integer(let hops)?: return hops
        default: throw Unreadable("hops is not an integer")
        }
    }
}
