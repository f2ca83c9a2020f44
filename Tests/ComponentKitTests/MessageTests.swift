import ComponentKit
import Foundation
import Testing

@Suite("Message envelope")
struct MessageTests {
    @Test("a message encoded before messages counted hops decodes with 0 hops")
    func decodesWithoutHops() throws {
        let json = Data(#"{"id":"m","payload":{"n":1},"priority":0,"to":"b:in"}"#.utf8)
        let message = try JSONDecoder().decode(Message.self, from: json)
        #expect(message.hops == 0)
        #expect(message == Message(id: "m", to: PortAddress(node: "b", port: "in"), payload: ["n": 1]))
    }

    @Test("hops round-trip through JSON, and a message that made none is written without the field")
    func encodesHops() throws {
        let travelled = Message(id: "m", payload: 1, hops: 12)
        let decoded = try JSONDecoder().decode(Message.self, from: JSONEncoder().encode(travelled))
        #expect(decoded == travelled)
        let fresh = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Message(id: "f", payload: 1))) as? [String: Any]
        #expect(fresh?["hops"] == nil)
        #expect(fresh?["id"] as? String == "f")
    }

    @Test("a fresh message has made no hop, and the default hop limit is 256")
    func defaults() {
        #expect(Message(payload: 1).hops == 0)
        #expect(Message.defaultMaxHops == 256)
    }
}
