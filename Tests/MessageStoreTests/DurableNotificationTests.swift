@testable import ContextStorePostgres
import Foundation
import MessageStoreAPI
import Synchronization
import TestSupport
import Testing

/// The payloads of `NOTIFY tinyflow_durable`, without a database.
@Suite("Durable-edge notifications")
struct DurableNotificationTests {
    private let queue = DurableQueue(namespace: "default", node: "counter", port: "in")

    @Test("a payload names the queues with work and those with space, and reads back as it was written")
    func roundTrip() throws {
        let other = DurableQueue(namespace: "other", node: "logger \"quoted\" / é", port: "in")
        let payloads = DurableNotification.payloads(work: [queue, other], space: [queue])
        #expect(payloads.count == 1)
        #expect(DurableNotification.decode(try #require(payloads.first)) == .queues(work: [queue, other], space: [queue]))
        #expect(DurableNotification.payloads(work: [], space: []).isEmpty)
    }

    @Test("many queues are spread over payloads under PostgreSQL's 8,000-byte limit, none lost")
    func manyQueuesSplit() {
        let work = Set((0..<2_000).map { DurableQueue(namespace: "default", node: "node-\($0)", port: "in") })
        let space = Set((0..<500).map { DurableQueue(namespace: "default", node: "sink-\($0)", port: "in") })
        let payloads = DurableNotification.payloads(work: work, space: space)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count < 8_000 })
        var seenWork: Set<DurableQueue> = []
        var seenSpace: Set<DurableQueue> = []
        for payload in payloads {
            guard case .queues(let work, let space) = DurableNotification.decode(payload) else {
                Issue.record("unreadable payload")
                return
            }
            seenWork.formUnion(work)
            seenSpace.formUnion(space)
        }
        #expect(seenWork == work && seenSpace == space)
    }

    @Test("a queue whose names alone exceed a payload is announced as everything; an unreadable payload reads as everything")
    func oversizedAndUnreadable() {
        let huge = DurableQueue(namespace: "default", node: String(repeating: "n", count: 9_000), port: "in")
        let payloads = DurableNotification.payloads(work: [huge, queue], space: [])
        #expect(payloads.count == 2)
        #expect(payloads.last == DurableNotification.everything)
        #expect(DurableNotification.decode(payloads[0]) == .queues(work: [queue], space: []))
        #expect(DurableNotification.decode("*") == .everything)
        #expect(DurableNotification.decode("not json") == .everything)
        #expect(DurableNotification.decode(#"{"w":[["only","two"]]}"#) == .everything)
    }
}
