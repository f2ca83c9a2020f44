import ComponentKit
import Foundation
import JSONSchemaKit
import MessageStoreAPI
import Testing

/// The `body` column of the SQLite and PostgreSQL message stores, written and read without `Codable`: it
/// must read what `JSONEncoder` wrote (files written before) and write what `JSONDecoder` reads.
@Suite("Message bodies")
struct MessageBodyTests {
    static let messages: [Message] = [
        Message(id: "plain", payload: 1),
        Message(
            id: "full", from: PortAddress(node: "a", port: "out"), to: PortAddress(node: "b", port: "in"),
            payload: ["n": 1.5, "s": "é \"quoted\" / \u{1}", "list": [true, nil, -3], "nested": ["x": [:]]],
            deadline: Date(timeIntervalSinceReferenceDate: 812_345_678.125), priority: -4,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", hops: 7),
        Message(id: "whole deadline", payload: "text", deadline: Date(timeIntervalSinceReferenceDate: 812_345_678), priority: 9),
    ]

    @Test("a body JSONEncoder wrote reads back as the same message", arguments: messages)
    func readsJSONEncoderBodies(message: Message) throws {
        let written = try JSONEncoder().encode(message)
        #expect(try MessageBody.decode(written) == message)
    }

    @Test("a body it writes reads back, here and through JSONDecoder, as the same message", arguments: messages)
    func writesWhatJSONDecoderReads(message: Message) throws {
        let body = try MessageBody.encode(message)
        #expect(try MessageBody.decode(Data(body.utf8)) == message)
        #expect(try JSONDecoder().decode(Message.self, from: Data(body.utf8)) == message)
    }

    @Test("a body that is not a message is refused", arguments: [
        "[]", #"{"payload": 1, "priority": 0}"#, #"{"id": "x", "priority": 0}"#, #"{"id": "x", "payload": 1, "priority": 1.5}"#,
        #"{"id": "x", "payload": 1, "priority": 0, "to": "no-port"}"#, #"{"id": "x", "payload": 1, "priority": 0, "hops": "1"}"#,
        "not json",
    ])
    func refusesNonMessages(body: String) {
        #expect(throws: (any Error).self) { try MessageBody.decode(Data(body.utf8)) }
    }
}
