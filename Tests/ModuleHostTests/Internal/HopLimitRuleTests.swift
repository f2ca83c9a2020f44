import AsyncPrimitives
import Backoff
import ComponentKit
import Foundation
import Logging
@testable import ModuleHost
import Testing

@Suite("Hop rule")
struct HopLimitRuleTests {
    @Test("a message sent while handling one has made one hop more, whatever it carried")
    func continuesTheChain() {
        #expect(HopLimit.hops(after: 0) == 1)
        #expect(HopLimit.hops(after: 41) == 42)
        #expect(HopLimit.sent(carried: 0, chain: HopLimit.hops(after: 41)) == 42)
        #expect(HopLimit.sent(carried: 41, chain: HopLimit.hops(after: 41)) == 42)
        // A count never goes down: a message carrying more keeps its count.
        #expect(HopLimit.sent(carried: 100, chain: 3) == 100)
        // Outside a handler (chain 0) a fresh message starts at 0.
        #expect(HopLimit.sent(carried: 0, chain: 0) == 0)
    }

    @Test("hostile counts from a peer neither wrap nor reset the chain")
    func saturates() {
        #expect(HopLimit.hops(after: Int.max) == Int.max)
        #expect(HopLimit.hops(after: -5) == 1)
        #expect(HopLimit.verdict(hops: Int.max, limit: 256) == .refuse)
    }

    @Test("within the limit a message is delivered; the first hop past it is reported, later ones only counted")
    func verdicts() {
        #expect(HopLimit.verdict(hops: 0, limit: 256) == .deliver)
        #expect(HopLimit.verdict(hops: 256, limit: 256) == .deliver)
        #expect(HopLimit.verdict(hops: 257, limit: 256) == .refuseAndReport)
        #expect(HopLimit.verdict(hops: 258, limit: 256) == .refuse)
    }

    @Test("the router stamps the chain's count on the message it prepares")
    func prepareStampsHops() {
        let from = PortAddress(node: "a", port: "out")
        #expect(Router.prepare(Message(payload: 1), from: from, context: nil, hops: 7).hops == 7)
        #expect(Router.prepare(Message(payload: 1, hops: 9), from: from, context: nil).hops == 9)
    }

    @Test("refusals without an error port are logged once, then at most once per interval with the count between")
    func logRateLimit() {
        let node = NodeInstance(
            definition: NodeDefinition(name: "n", component: "forward"), componentType: Forward.self,
            context: NodeContext(node: "n", logger: Logger(label: "test")), channelCapacity: 1,
            restartBackoff: Backoff(initial: .milliseconds(100), maximum: .seconds(30)),
            statusChanges: ChangeNotifier())
        let second: Int64 = 1_000_000_000
        #expect(node.hopLimitRefusalToLog(interval: .seconds(10), now: 100 * second) == 1)
        #expect(node.hopLimitRefusalToLog(interval: .seconds(10), now: 101 * second) == nil)
        #expect(node.hopLimitRefusalToLog(interval: .seconds(10), now: 105 * second) == nil)
        #expect(node.hopLimitRefusalToLog(interval: .seconds(10), now: 110 * second) == 3)
        #expect(node.hopLimitRefusalToLog(interval: .seconds(10), now: 111 * second) == nil)
    }
}
