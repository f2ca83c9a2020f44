import ComponentKit
import ContextStoreAPI
import ContextStoreSQLite
import Foundation
import JSONSchemaKit
import MessageStoreAPI
import PostgresTestSupport
import Synchronization
import TestSupport
import Testing

/// The backends the conformance suite runs against.
///
/// Each case opens fresh, empty stores — a message store and the context store in the same
/// database — isolated from every other test's, and can open another view of that database
/// (what another process sees) for the tests of leases and concurrency. Adding a backend is
/// one place: a case here and its branches in ``MessageStoreFixture``.
enum MessageStoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// ``SQLiteMessageStore`` sharing a ``SQLiteContextStore`` on a new file in a new
    /// temporary directory; another view is a second pair of stores on the same file.
    case sqlite
    /// The PostgreSQL message store and context store on a new database of the test process's
    /// PostgreSQL server (`makePostgresMessageStores()`, `makeSecondPostgresView(of:)`).
    /// Listed when PostgreSQL is installed, or required (`TINYFLOW_REQUIRE_POSTGRES=1`), except
    /// in the unit tier.
    case postgres

    /// `make test-unit` (`TINYFLOW_TEST_TIER=unit`: no servers) leaves PostgreSQL out.
    static var allCases: [MessageStoreBackend] {
        let unitTier = ProcessInfo.processInfo.environment["TINYFLOW_TEST_TIER"] == "unit"
        return [.sqlite] + (!unitTier && (PostgresServer.isRequired || PostgresServer.isInstalled) ? [.postgres] : [])
    }

    var testDescription: String { rawValue }

    /// Runs `body` with fresh stores and closes every store it opened afterwards (views
    /// included), also when `body` throws.
    func withStores<T>(_ body: (MessageStoreFixture) async throws -> T) async throws -> T {
        let fixture = try await MessageStoreFixture(backend: self)
        let result: Result<T, any Error>
        do { result = .success(try await body(fixture)) } catch { result = .failure(error) }
        await fixture.closeAll()
        return try result.get()
    }
}

/// A message store and the context store in the same database.
struct StoreView: Sendable {
    let messages: any MessageStore
    let context: any ContextStore
}

/// The stores of one test: its main view of a fresh database, and the other views it opened.
final class MessageStoreFixture: Sendable {
    let backend: MessageStoreBackend
    /// The test's stores.
    let main: StoreView
    /// The SQLite file (for `.sqlite`).
    private let path: String?
    private let opened: Mutex<[StoreView]>

    /// The main message store.
    var messages: any MessageStore { main.messages }
    /// The main context store, in the message store's database.
    var context: any ContextStore { main.context }

    init(backend: MessageStoreBackend) async throws {
        self.backend = backend
        switch backend {
        case .sqlite:
            let path = temporaryDatabasePath()
            let context = try SQLiteContextStore(path: path)
            main = StoreView(messages: SQLiteMessageStore(sharing: context), context: context)
            self.path = path
        case .postgres:
            let stores = try await makePostgresMessageStores()
            main = StoreView(messages: stores.messages, context: stores.context)
            path = nil
        }
        opened = Mutex([main])
    }

    /// Opens another view of the same database, as another process would: stores of their own
    /// (connections, signals) on the same data. Closed with the fixture.
    func anotherView() async throws -> StoreView {
        let view: StoreView
        switch backend {
        case .sqlite:
            let context = try SQLiteContextStore(path: path ?? "")
            view = StoreView(messages: SQLiteMessageStore(sharing: context), context: context)
        case .postgres:
            let stores = try await makeSecondPostgresView(of: (messages: main.messages, context: main.context))
            view = StoreView(messages: stores.messages, context: stores.context)
        }
        opened.withLock { $0.append(view) }
        return view
    }

    /// Closes every store opened (twice is harmless) and removes the SQLite file.
    func closeAll() async {
        for view in opened.withLock({ $0 }) {
            await view.messages.close()
            await view.context.close()
        }
        if let path { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    }
}

/// A path for a new SQLite file, in a directory of its own that does not exist yet.
func temporaryDatabasePath() -> String {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("tinyflow-message-tests-\(UUID().uuidString)")
        .appendingPathComponent("context.db").path
}

// MARK: - Fixtures

let counterIn = DurableQueue(namespace: "default", node: "counter", port: "in")
let counterControl = DurableQueue(namespace: "default", node: "counter", port: "control")
let loggerIn = DurableQueue(namespace: "default", node: "logger", port: "in")
let otherNamespaceCounterIn = DurableQueue(namespace: "other", node: "counter", port: "in")
let tickerEdge = DurableEdge(node: "ticker", edge: "to-counter")
let counterScope = ContextScope.node(namespace: "default", node: "counter")

/// A lease long enough never to run out during a test.
let longLease = Duration.seconds(600)
/// A lease short enough to wait for its expiry.
let shortLease = Duration.milliseconds(1000)
/// Enough room that no test meets the backlog limit unless it means to.
let roomy = 10_000

/// A message for `queue` with `payload`.
func pending(
    _ payload: JSONValue, to queue: DurableQueue = counterIn, priority: Int = 0, deadline: Date? = nil,
    availableAt: Date? = nil
) -> PendingMessage {
    PendingMessage(
        queue: queue, edge: tickerEdge,
        message: Message(to: PortAddress(node: queue.node, port: queue.port), payload: payload, deadline: deadline, priority: priority),
        availableAt: availableAt)
}

/// Waits until the process clock has passed `instant` (a lease's expiry, an availability):
/// what the store compares with is then behind us, not a guess.
func waitUntilPassed(_ instant: Date, _ what: String) async throws {
    try await eventually(what, timeout: .seconds(20)) { Date() > instant }
}

/// The semantics of ``MessageStore`` that every backend shares, checked on each of them.
@Suite("Message store conformance", .timeLimit(.minutes(1)))
struct MessageStoreConformanceTests {
    // MARK: Order and leases

    @Test("a claim hands out messages by priority (higher first), then deadline (earliest first, none last), then arrival", arguments: MessageStoreBackend.allCases)
    func claimOrder(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let soon = Date().addingTimeInterval(3600)
            let later = soon.addingTimeInterval(60)
            try await stores.messages.enqueue([
                pending("low, no deadline"),
                pending("high, later", priority: 5, deadline: later),
                pending("low, soon", deadline: soon),
                pending("high, no deadline", priority: 5),
                pending("high, soon", priority: 5, deadline: soon),
                pending("other queue", to: loggerIn, priority: 9),
                pending("low, later", deadline: later),
            ], maxBacklog: roomy)
            try await stores.messages.enqueue([pending("high, soon, second", priority: 5, deadline: soon)], maxBacklog: roomy)

            let first = try await stores.messages.claim(from: counterIn, limit: 4, leaseDuration: longLease)
            let second = try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease)
            #expect(first.messages.map(\.message.payload) == ["high, soon", "high, soon, second", "high, later", "high, no deadline"])
            #expect(second.messages.map(\.message.payload) == ["low, soon", "low, later", "low, no deadline"])
            #expect(first.expired.isEmpty && second.expired.isEmpty)
            #expect((first.messages + second.messages).allSatisfy { $0.queue == counterIn && $0.edge == tickerEdge })
            #expect(try await stores.messages.claim(from: loggerIn, limit: 10, leaseDuration: longLease).messages.map(\.message.payload)
                == ["other queue"])
        }
    }

    @Test("a claimed message reads back as it was sent, with its first attempt, arrival and lease", arguments: MessageStoreBackend.allCases)
    func claimedMessageRoundTrips(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let message = Message(
                from: PortAddress(node: "ticker", port: "out"), to: PortAddress(node: "counter", port: "in"),
                payload: ["n": 1, "tags": ["a", "é"], "none": nil], deadline: Date().addingTimeInterval(3600.125), priority: -2,
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", hops: 3)
            let before = Date()
            try await stores.messages.enqueue([PendingMessage(queue: counterIn, edge: tickerEdge, message: message)], maxBacklog: roomy)
            let claimStart = Date()
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(claimed.message == message)
            #expect(claimed.attempts == 1)
            #expect(claimed.lastError == nil)
            #expect(claimed.enqueuedAt.timeIntervalSince(before) >= -0.002 && claimed.enqueuedAt <= Date().addingTimeInterval(0.002))
            #expect(claimed.leaseExpiresAt.timeIntervalSince(claimStart) > 599 && claimed.leaseExpiresAt.timeIntervalSince(Date()) <= 600.001)
        }
    }

    @Test("a leased message is not handed out again while its lease holds, by this store or another", arguments: MessageStoreBackend.allCases)
    func leasedMessageIsNotClaimedAgain(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let other = try await stores.anotherView()
            try await stores.messages.enqueue([pending(1), pending(2)], maxBacklog: roomy)
            let first = try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease)
            let second = try await other.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease)
            #expect(first.messages.map(\.message.payload) == [1])
            #expect(second.messages.map(\.message.payload) == [2])
            #expect(try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages.isEmpty)
            #expect(try await other.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages.isEmpty)
            #expect(first.messages[0].lease.id != second.messages[0].lease.id)
        }
    }

    @Test("an expired lease makes the message claimable again by any store, with one more attempt and a new token", arguments: MessageStoreBackend.allCases)
    func expiredLeaseIsClaimableAgain(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let other = try await stores.anotherView()
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let first = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: shortLease).messages.first)
            #expect(try await other.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.isEmpty)
            #expect(try await other.messages.nextAvailableTime(of: counterIn) == first.leaseExpiresAt)

            try await waitUntilPassed(first.leaseExpiresAt, "the first lease's expiry")
            let second = try #require(try await other.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(second.lease.id == first.lease.id)
            #expect(second.lease.token != first.lease.token)
            #expect(second.attempts == 2)
            #expect(second.message == first.message)
            #expect(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.isEmpty)
        }
    }

    @Test("settling with a lease another claim took since throws leaseLost and applies nothing of the settlement", arguments: MessageStoreBackend.allCases)
    func staleLeaseSettlesNothing(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let other = try await stores.anotherView()
            try await stores.messages.enqueue([pending("slow"), pending("fast")], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 2, leaseDuration: shortLease).messages
            let (slow, fast) = (claimed[0], claimed[1])
            try await waitUntilPassed(slow.leaseExpiresAt, "the leases' expiry")
            let reclaimed = try #require(try await other.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(reclaimed.lease.id == slow.lease.id)

            // The slow consumer settles both its messages, with a message sent and context written:
            // one of its leases is lost, so none of it happens.
            let settlement = Settlement(
                acknowledged: [slow.lease, fast.lease],
                enqueued: [pending("sent", to: loggerIn)],
                contextMutations: [.increment(key: "handled", scope: counterScope, by: 1, ttl: nil)])
            await #expect(throws: MessageStoreError.leaseLost([slow.lease])) {
                try await stores.messages.settle(settlement, maxBacklog: roomy)
            }
            #expect(try await stores.messages.backlog(of: counterIn) == 2)
            #expect(try await stores.messages.backlog(of: loggerIn) == 0)
            #expect(try await stores.context.get("handled", in: counterScope) == nil)

            // The new holder settles it; the slow consumer's other lease expired, but nobody
            // claimed that message since: it is still held, and settles.
            try await other.messages.settle(Settlement(acknowledged: [reclaimed.lease]), maxBacklog: roomy)
            try await stores.messages.settle(Settlement(acknowledged: [fast.lease]), maxBacklog: roomy)
            #expect(try await stores.messages.backlog(of: counterIn) == 0)
        }
    }

    @Test("a message released for a retry is no longer held: settling the old lease throws leaseLost", arguments: MessageStoreBackend.allCases)
    func releasedLeaseIsLost(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            try await stores.messages.settle(
                Settlement(retried: [.init(lease: claimed.lease, availableAt: Date(), error: "try again")]), maxBacklog: roomy)
            await #expect(throws: MessageStoreError.leaseLost([claimed.lease])) {
                try await stores.messages.settle(Settlement(acknowledged: [claimed.lease]), maxBacklog: roomy)
            }
            #expect(try await stores.messages.extend([claimed.lease], leaseDuration: longLease) == [])
            let again = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(again.attempts == 2)
            #expect(again.lastError == "try again")
        }
    }

    @Test("a retry that does not count as an attempt (the stores were down) hands the message out again with the attempts it had", arguments: MessageStoreBackend.allCases)
    func uncountedRetryKeepsAttempts(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            func claim() async throws -> LeasedMessage {
                try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            }
            func retry(_ claimed: LeasedMessage, error: String, countsAsAttempt: Bool) async throws {
                try await stores.messages.settle(
                    Settlement(retried: [.init(lease: claimed.lease, availableAt: Date(), error: error, countsAsAttempt: countsAsAttempt)]),
                    maxBacklog: roomy)
            }
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            var claimed = try await claim()
            #expect(claimed.attempts == 1)
            for _ in 0..<3 {
                try await retry(claimed, error: "store down", countsAsAttempt: false)
                claimed = try await claim()
                #expect(claimed.attempts == 1)
                #expect(claimed.lastError == "store down")
            }
            try await retry(claimed, error: "handler failed", countsAsAttempt: true)
            claimed = try await claim()
            #expect(claimed.attempts == 2)
        }
    }

    @Test("extend renews only the leases still held", arguments: MessageStoreBackend.allCases)
    func extendKeepsHeldLeases(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let other = try await stores.anotherView()
            try await stores.messages.enqueue([pending("kept"), pending("taken"), pending("acknowledged")], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 3, leaseDuration: shortLease).messages
            try await stores.messages.settle(Settlement(acknowledged: [claimed[2].lease]), maxBacklog: roomy)
            try await waitUntilPassed(claimed[0].leaseExpiresAt, "the leases' expiry")
            // Once the leases expired, another consumer takes the first two and releases the
            // first, which this store claims again.
            let taken = try await other.messages.claim(from: counterIn, limit: 2, leaseDuration: longLease).messages
            #expect(taken.map(\.message.payload) == ["kept", "taken"])
            try await other.messages.settle(
                Settlement(retried: [.init(lease: taken[0].lease, availableAt: Date(), error: "handed back")]), maxBacklog: roomy)
            let retaken = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: shortLease).messages.first)

            let extended = try await stores.messages.extend(
                [retaken.lease, claimed[0].lease, claimed[1].lease, claimed[2].lease], leaseDuration: longLease)
            #expect(extended == [retaken.lease])
            try await waitUntilPassed(retaken.leaseExpiresAt, "the short lease's expiry")
            #expect(try await other.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages.isEmpty,
                "the extended lease outlives its first expiry")
            try await stores.messages.settle(Settlement(acknowledged: [retaken.lease]), maxBacklog: roomy)
        }
    }

    // MARK: Retries and availability

    @Test("a message retried for later is not handed out before its time, and nextAvailableTime names that time", arguments: MessageStoreBackend.allCases)
    func retryForLater(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            #expect(try await stores.messages.nextAvailableTime(of: counterIn) == nil)
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            let availableAt = Date().addingTimeInterval(3)
            try await stores.messages.settle(
                Settlement(retried: [.init(lease: claimed.lease, availableAt: availableAt, error: "downstream busy")]),
                maxBacklog: roomy)

            #expect(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.isEmpty)
            #expect(try await stores.messages.backlog(of: counterIn) == 1)
            let next = try #require(try await stores.messages.nextAvailableTime(of: counterIn))
            #expect(abs(next.timeIntervalSince(availableAt)) < 0.002, "named \(next), retried for \(availableAt)")

            try await waitUntilPassed(next, "the retry's time")
            let retried = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(retried.lease.id == claimed.lease.id)
            #expect(retried.attempts == 2)
            #expect(retried.lastError == "downstream busy")
        }
    }

    @Test("a message enqueued to be available later waits until then; nextAvailableTime is nil once the queue is empty", arguments: MessageStoreBackend.allCases)
    func enqueueAvailableLater(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let later = Date().addingTimeInterval(3600)
            try await stores.messages.enqueue([pending("later", availableAt: later), pending("now")], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages
            #expect(claimed.map(\.message.payload) == ["now"])
            try await stores.messages.settle(Settlement(acknowledged: claimed.map(\.lease)), maxBacklog: roomy)
            let next = try #require(try await stores.messages.nextAvailableTime(of: counterIn))
            #expect(abs(next.timeIntervalSince(later)) < 0.002)
            #expect(try await stores.messages.deleteQueues(namespace: "default", node: "counter") == 1)
            #expect(try await stores.messages.nextAvailableTime(of: counterIn) == nil)
        }
    }

    @Test("nextAvailableTime names a time not after now when a message is available already, and a lease's expiry while it is leased", arguments: MessageStoreBackend.allCases)
    func nextAvailableTimeWhenAvailable(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let available = try #require(try await stores.messages.nextAvailableTime(of: counterIn))
            #expect(available <= Date())
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            #expect(try await stores.messages.nextAvailableTime(of: counterIn) == claimed.leaseExpiresAt)
        }
    }

    // MARK: Dead letters

    @Test("a message whose deadline passed is dead-lettered by the claim (reason expired) and never handed out", arguments: MessageStoreBackend.allCases)
    func expiredDeadlineIsDeadLettered(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let past = Date().addingTimeInterval(-1)
            try await stores.messages.enqueue(
                [pending("stale", priority: 9, deadline: past), pending("fresh", deadline: Date().addingTimeInterval(3600))],
                maxBacklog: roomy)
            let claim = try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease)
            #expect(claim.messages.map(\.message.payload) == ["fresh"])
            let expired = try #require(claim.expired.first)
            #expect(claim.expired.count == 1)
            #expect(expired.message.payload == "stale")
            #expect(expired.reason == .expired)
            #expect(expired.attempts == 0)
            #expect(expired.queue == counterIn && expired.edge == tickerEdge)
            #expect(!expired.lastError.isEmpty)
            #expect(try await stores.messages.backlog(of: counterIn) == 1)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10) == [expired])
        }
    }

    @Test("a settled dead letter is listed with its reason, error and attempts, oldest first; filters select by node and id", arguments: MessageStoreBackend.allCases)
    func deadLettersAreListedAndFiltered(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue(
                [pending("a"), pending("b"), pending("c"), pending("d", to: loggerIn), pending("e", to: otherNamespaceCounterIn)],
                maxBacklog: roomy)
            let counter = try await stores.messages.claim(from: counterIn, limit: 3, leaseDuration: longLease).messages
            let logger = try await stores.messages.claim(from: loggerIn, limit: 1, leaseDuration: longLease).messages
            let other = try await stores.messages.claim(from: otherNamespaceCounterIn, limit: 1, leaseDuration: longLease).messages
            try await stores.messages.settle(
                Settlement(
                    acknowledged: [counter[2].lease],
                    deadLettered: [
                        .init(lease: logger[0].lease, reason: .nonRetryable, error: "bad input"),
                        .init(lease: counter[0].lease, reason: .attemptsExhausted, error: "boom"),
                        .init(lease: counter[1].lease, reason: .nonRetryable, error: "bad input"),
                        .init(lease: other[0].lease, reason: .nonRetryable, error: "elsewhere"),
                    ]),
                maxBacklog: roomy)

            let all = try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10)
            #expect(all.map(\.message.payload) == ["a", "b", "d"])
            #expect(all.map(\.id) == [counter[0].lease.id, counter[1].lease.id, logger[0].lease.id])
            #expect(all.map(\.reason) == [.attemptsExhausted, .nonRetryable, .nonRetryable])
            #expect(all.map(\.lastError) == ["boom", "bad input", "bad input"])
            #expect(all.allSatisfy { $0.attempts == 1 && $0.edge == tickerEdge })
            #expect(all[0].message == counter[0].message && all[0].queue == counterIn && all[2].queue == loggerIn)
            #expect(all[0].enqueuedAt == counter[0].enqueuedAt)
            #expect(all[0].deadLetteredAt >= all[0].enqueuedAt)

            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 2).map(\.message.payload) == ["a", "b"])
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default", nodes: ["counter"]), limit: 10)
                .map(\.message.payload) == ["a", "b"])
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default", nodes: ["logger", "absent"]), limit: 10)
                .map(\.message.payload) == ["d"])
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default", ids: [all[1].id, all[2].id]), limit: 10)
                .map(\.message.payload) == ["b", "d"])
            #expect(try await stores.messages.deadLetters(
                DeadLetterFilter(namespace: "default", nodes: ["counter"], ids: [all[1].id, all[2].id]), limit: 10)
                .map(\.message.payload) == ["b"])
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default", nodes: []), limit: 10).isEmpty)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "other"), limit: 10).map(\.message.payload) == ["e"])
            #expect(try await stores.messages.backlog(of: counterIn) == 0)
        }
    }

    @Test("replay puts dead letters back into their queues as new arrivals, attempts reset, claimable at once", arguments: MessageStoreBackend.allCases)
    func replayPutsBack(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending("a"), pending("b")], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 2, leaseDuration: longLease).messages
            try await stores.messages.settle(
                Settlement(deadLettered: claimed.map { .init(lease: $0.lease, reason: .attemptsExhausted, error: "boom") }),
                maxBacklog: roomy)
            try await stores.messages.enqueue([pending("arrived meanwhile")], maxBacklog: roomy)

            let dead = try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10)
            #expect(try await stores.messages.replay(DeadLetterFilter(namespace: "default", ids: [dead[0].id])) == 1)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).map(\.message.payload) == ["b"])

            let again = try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages
            #expect(again.map(\.message.payload) == ["arrived meanwhile", "a"])
            let replayed = again[1]
            #expect(replayed.attempts == 1)
            #expect(replayed.message == claimed[0].message)
            #expect(replayed.edge == tickerEdge && replayed.queue == counterIn)
            #expect(replayed.lease.id > again[0].lease.id, "a replayed message is a new arrival")
            #expect(try await stores.messages.replay(DeadLetterFilter(namespace: "default", nodes: ["logger"])) == 0)
        }
    }

    @Test("purge removes the selected dead letters and nothing else", arguments: MessageStoreBackend.allCases)
    func purgeRemovesDeadLetters(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending("a"), pending("b"), pending("waiting")], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 2, leaseDuration: longLease).messages
            try await stores.messages.settle(
                Settlement(deadLettered: claimed.map { .init(lease: $0.lease, reason: .nonRetryable, error: "bad") }), maxBacklog: roomy)
            #expect(try await stores.messages.purge(DeadLetterFilter(namespace: "default", ids: [claimed[0].lease.id])) == 1)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).map(\.message.payload) == ["b"])
            #expect(try await stores.messages.purge(DeadLetterFilter(namespace: "other")) == 0)
            #expect(try await stores.messages.purge(DeadLetterFilter(namespace: "default")) == 1)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).isEmpty)
            #expect(try await stores.messages.backlog(of: counterIn) == 1)
        }
    }

    // MARK: Backlog

    @Test("backlog counts leased and waiting messages, not dead letters nor other queues'", arguments: MessageStoreBackend.allCases)
    func backlogCounts(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue(
                [pending(1), pending(2), pending(3), pending(4), pending(5, to: counterControl)], maxBacklog: roomy)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 2, leaseDuration: longLease).messages
            #expect(try await stores.messages.backlog(of: counterIn) == 4)
            try await stores.messages.settle(
                Settlement(
                    acknowledged: [claimed[0].lease],
                    deadLettered: [.init(lease: claimed[1].lease, reason: .nonRetryable, error: "bad")]),
                maxBacklog: roomy)
            #expect(try await stores.messages.backlog(of: counterIn) == 2)
            #expect(try await stores.messages.backlog(of: counterControl) == 1)
            #expect(try await stores.messages.backlog(of: loggerIn) == 0)
        }
    }

    @Test("queuesHoldingMessages names the queues asked about that hold waiting or leased messages: not emptied ones, not those with dead letters only", arguments: MessageStoreBackend.allCases)
    func queuesHoldingMessages(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let emptied = DurableQueue(namespace: "default", node: "logger", port: "control")
            let deadOnly = DurableQueue(namespace: "default", node: "counter", port: "reset")
            try await stores.messages.enqueue(
                [pending(1), pending(2, to: counterControl), pending(3, to: emptied), pending(4, to: deadOnly),
                 pending(5, to: otherNamespaceCounterIn)],
                maxBacklog: roomy)
            _ = try await stores.messages.claim(from: counterControl, limit: 1, leaseDuration: longLease)
            let done = try #require(try await stores.messages.claim(from: emptied, limit: 1, leaseDuration: longLease).messages.first)
            let dead = try #require(try await stores.messages.claim(from: deadOnly, limit: 1, leaseDuration: longLease).messages.first)
            try await stores.messages.settle(
                Settlement(acknowledged: [done.lease], deadLettered: [.init(lease: dead.lease, reason: .nonRetryable, error: "bad")]),
                maxBacklog: roomy)

            let asked = [counterIn, counterControl, emptied, deadOnly, loggerIn]
            #expect(try await stores.messages.queuesHoldingMessages(asked) == [counterIn, counterControl])
            #expect(try await stores.messages.queuesHoldingMessages([otherNamespaceCounterIn]) == [otherNamespaceCounterIn])
            #expect(try await stores.messages.queuesHoldingMessages([]) == [])
        }
    }

    @Test("enqueueing past maxBacklog throws backlogFull and stores nothing of the call", arguments: MessageStoreBackend.allCases)
    func backlogLimit(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending(1), pending(2)], maxBacklog: 3)
            await #expect(throws: MessageStoreError.backlogFull(queue: counterIn, limit: 3)) {
                try await stores.messages.enqueue([pending("fits", to: loggerIn), pending(3), pending(4)], maxBacklog: 3)
            }
            #expect(try await stores.messages.backlog(of: counterIn) == 2)
            #expect(try await stores.messages.backlog(of: loggerIn) == 0)
            await #expect(throws: MessageStoreError.backlogFull(queue: loggerIn, limit: 3)) {
                try await stores.messages.enqueue((1...4).map { pending(.integer($0), to: loggerIn) }, maxBacklog: 3)
            }
            try await stores.messages.enqueue([pending(3)], maxBacklog: 3)
            #expect(try await stores.messages.backlog(of: counterIn) == 3)

            // Leased messages count; a settlement that acknowledges one makes room for what it sends.
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            await #expect(throws: MessageStoreError.backlogFull(queue: counterIn, limit: 3)) {
                try await stores.messages.enqueue([pending(4)], maxBacklog: 3)
            }
            await #expect(throws: MessageStoreError.backlogFull(queue: counterIn, limit: 3)) {
                try await stores.messages.settle(
                    Settlement(
                        retried: [.init(lease: claimed.lease, availableAt: Date(), error: "again")],
                        enqueued: [pending("loop")]),
                    maxBacklog: 3)
            }
            #expect(try await stores.messages.extend([claimed.lease], leaseDuration: longLease) == [claimed.lease],
                "the failed settlement released nothing")
            try await stores.messages.settle(Settlement(acknowledged: [claimed.lease], enqueued: [pending("loop")]), maxBacklog: 3)
            #expect(try await stores.messages.backlog(of: counterIn) == 3)
        }
    }

    // MARK: Settlements with context

    @Test("a settlement applies its context mutations with the acknowledgement: an increment and conditional writes", arguments: MessageStoreBackend.allCases)
    func settlementAppliesContext(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let read = try await stores.context.set("last", to: "before", in: counterScope)
            try await stores.context.set("gone", to: true, in: counterScope)
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            try await stores.messages.settle(
                Settlement(
                    acknowledged: [claimed.lease],
                    enqueued: [pending("forwarded", to: loggerIn)],
                    contextMutations: [
                        .increment(key: "count", scope: counterScope, by: 2, ttl: nil),
                        .increment(key: "count", scope: counterScope, by: 3, ttl: nil),
                        .write(key: "last", scope: counterScope, value: "job", ttl: nil, expecting: .version(read)),
                        .write(key: "first", scope: counterScope, value: ["at": 1], ttl: .seconds(3600), expecting: .absent),
                        .write(key: "gone", scope: counterScope, value: nil, ttl: nil, expecting: .any),
                    ]),
                maxBacklog: roomy)

            #expect(try await stores.messages.backlog(of: counterIn) == 0)
            #expect(try await stores.messages.claim(from: loggerIn, limit: 10, leaseDuration: longLease).messages.map(\.message.payload)
                == ["forwarded"])
            #expect(try await stores.context.get("count", in: counterScope)?.value == 5)
            let last = try #require(try await stores.context.get("last", in: counterScope))
            #expect(last.value == "job")
            #expect(last.version > read)
            let first = try #require(try await stores.context.get("first", in: counterScope))
            #expect(first.value == ["at": 1])
            #expect(first.expiresAt != nil)
            #expect(try await stores.context.get("gone", in: counterScope) == nil)
            // Versions come from the context store's one sequence.
            #expect(try await stores.context.set("after", to: 1, in: counterScope) > last.version)
        }
    }

    @Test("a write whose expected version no longer holds throws conflict and applies nothing of the settlement", arguments: MessageStoreBackend.allCases)
    func conflictAbortsSettlement(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let read = try await stores.context.set("last", to: "read", in: counterScope)
            try await stores.context.set("last", to: "written meanwhile", in: counterScope)
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            let settlement = Settlement(
                acknowledged: [claimed.lease],
                enqueued: [pending("forwarded", to: loggerIn)],
                contextMutations: [
                    .increment(key: "count", scope: counterScope, by: 1, ttl: nil),
                    .write(key: "last", scope: counterScope, value: "job", ttl: nil, expecting: .version(read)),
                ])
            await #expect(throws: ContextStoreError.conflict(key: "last", attempts: 1)) {
                try await stores.messages.settle(settlement, maxBacklog: roomy)
            }
            await #expect(throws: ContextStoreError.conflict(key: "last", attempts: 1)) {
                try await stores.messages.settle(
                    Settlement(
                        acknowledged: [claimed.lease],
                        contextMutations: [.write(key: "last", scope: counterScope, value: "job", ttl: nil, expecting: .absent)]),
                    maxBacklog: roomy)
            }
            try await expectNothingApplied(stores, claimed)
        }
    }

    @Test("a context mutation the context store refuses aborts the whole settlement", arguments: MessageStoreBackend.allCases)
    func refusedMutationAbortsSettlement(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.context.set("name", to: "text", in: counterScope)
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            func settle(_ mutation: ContextMutation) async throws {
                try await stores.messages.settle(
                    Settlement(
                        acknowledged: [claimed.lease], enqueued: [pending("forwarded", to: loggerIn)],
                        contextMutations: [.increment(key: "count", scope: counterScope, by: 1, ttl: nil), mutation]),
                    maxBacklog: roomy)
            }
            let longKey = String(repeating: "k", count: 300)
            let invalid = await #expect(throws: ContextStoreError.self) {
                try await settle(.write(key: longKey, scope: counterScope, value: 1, ttl: nil, expecting: .any))
            }
            guard case .invalidKey? = invalid else { Issue.record("expected invalidKey, got \(String(describing: invalid))"); return }
            let huge = JSONValue.string(String(repeating: "x", count: ContextLimits().maxValueBytes))
            let tooLarge = await #expect(throws: ContextStoreError.self) {
                try await settle(.write(key: "big", scope: counterScope, value: huge, ttl: nil, expecting: .any))
            }
            guard case .valueTooLarge? = tooLarge else { Issue.record("expected valueTooLarge, got \(String(describing: tooLarge))"); return }
            // Refused inside the transaction, after the acknowledgement and the increment ran: rolled back.
            await #expect(throws: ContextStoreError.notAnInteger(key: "name", found: "string")) {
                try await settle(.increment(key: "name", scope: counterScope, by: 1, ttl: nil))
            }
            try await expectNothingApplied(stores, claimed)
        }
    }

    @Test("a message larger than the limit is refused as messageTooLarge, in an enqueue or a settlement", arguments: MessageStoreBackend.allCases)
    func messageTooLarge(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let limit = stores.messages.limits.maxMessageBytes
            let big = pending(.string(String(repeating: "x", count: limit)), to: loggerIn)
            let error = await #expect(throws: MessageStoreError.self) {
                try await stores.messages.enqueue([pending("small", to: loggerIn), big], maxBacklog: roomy)
            }
            guard case .messageTooLarge(let queue, let id, let bytes, let reportedLimit)? = error else {
                Issue.record("expected messageTooLarge, got \(String(describing: error))")
                return
            }
            #expect(queue == loggerIn && id == big.message.id && bytes > limit && reportedLimit == limit)
            #expect(try await stores.messages.backlog(of: loggerIn) == 0)

            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            await #expect(throws: MessageStoreError.self) {
                try await stores.messages.settle(
                    Settlement(
                        acknowledged: [claimed.lease], enqueued: [big],
                        contextMutations: [.increment(key: "count", scope: counterScope, by: 1, ttl: nil)]),
                    maxBacklog: roomy)
            }
            try await expectNothingApplied(stores, claimed)
        }
    }

    // MARK: Queues

    @Test("deleteQueues removes every message and dead letter of the node's queues, and nothing of other nodes or namespaces", arguments: MessageStoreBackend.allCases)
    func deleteQueuesRemovesANodesQueues(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue(
                [pending(1), pending(2), pending(3, to: counterControl), pending(4, to: loggerIn), pending(5, to: otherNamespaceCounterIn)],
                maxBacklog: roomy)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            try await stores.messages.settle(
                Settlement(deadLettered: [.init(lease: claimed.lease, reason: .nonRetryable, error: "bad")]), maxBacklog: roomy)

            #expect(try await stores.messages.deleteQueues(namespace: "default", node: "counter") == 3)
            #expect(try await stores.messages.backlog(of: counterIn) == 0)
            #expect(try await stores.messages.backlog(of: counterControl) == 0)
            #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).isEmpty)
            #expect(try await stores.messages.backlog(of: loggerIn) == 1)
            #expect(try await stores.messages.backlog(of: otherNamespaceCounterIn) == 1)
            #expect(try await stores.messages.deleteQueues(namespace: "default", node: "counter") == 0)

            // A node made again with the same name starts with empty queues.
            try await stores.messages.enqueue([pending("again")], maxBacklog: 1)
            #expect(try await stores.messages.backlog(of: counterIn) == 1)
        }
    }

    // MARK: Signals

    @Test("a consumer waiting for work wakes when a message is enqueued", arguments: MessageStoreBackend.allCases)
    func workSignal(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let signals = stores.messages.signals
            let key = QueueSignals.Key.work(counterIn)
            let seen = signals.generation(key)
            let deadline = ContinuousClock.now + .seconds(30)
            async let woke: Void = signals.wait(for: key, after: seen, until: deadline)
            try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            await woke
            #expect(ContinuousClock.now < deadline, "woken by the deadline, not the signal")
            #expect(signals.generation(key) > seen)
        }
    }

    @Test("a sender waiting for space wakes when a message is acknowledged", arguments: MessageStoreBackend.allCases)
    func spaceSignal(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.enqueue([pending("job")], maxBacklog: 1)
            let claimed = try #require(try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease).messages.first)
            let signals = stores.messages.signals
            let key = QueueSignals.Key.space(counterIn)
            let seen = signals.generation(key)
            let deadline = ContinuousClock.now + .seconds(30)
            async let woke: Void = signals.wait(for: key, after: seen, until: deadline)
            try await stores.messages.settle(Settlement(acknowledged: [claimed.lease]), maxBacklog: 1)
            await woke
            #expect(ContinuousClock.now < deadline, "woken by the deadline, not the signal")
            #expect(signals.generation(key) > seen)
            try await stores.messages.enqueue([pending("next")], maxBacklog: 1)
        }
    }

    @Test("a retry and a replay signal work; a claim that dead-letters expired messages signals space", arguments: MessageStoreBackend.allCases)
    func retryReplayAndExpirySignal(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let signals = stores.messages.signals
            let work = QueueSignals.Key.work(counterIn)
            let space = QueueSignals.Key.space(counterIn)
            try await stores.messages.enqueue([pending("job"), pending("stale", deadline: Date().addingTimeInterval(-1))], maxBacklog: roomy)

            var seenSpace = signals.generation(space)
            let claim = try await stores.messages.claim(from: counterIn, limit: 1, leaseDuration: longLease)
            #expect(claim.expired.count == 1)
            try await wake(signals, space, after: seenSpace)

            var seenWork = signals.generation(work)
            try await stores.messages.settle(
                Settlement(retried: [.init(lease: claim.messages[0].lease, availableAt: Date(), error: "again")]), maxBacklog: roomy)
            try await wake(signals, work, after: seenWork)

            seenWork = signals.generation(work)
            #expect(try await stores.messages.replay(DeadLetterFilter(namespace: "default")) == 1)
            try await wake(signals, work, after: seenWork)

            seenSpace = signals.generation(space)
            let claimed = try await stores.messages.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages
            try await stores.messages.settle(
                Settlement(deadLettered: claimed.map { .init(lease: $0.lease, reason: .nonRetryable, error: "bad") }), maxBacklog: roomy)
            try await wake(signals, space, after: seenSpace)
        }
    }

    // MARK: Several stores

    @Test("two stores on one database: 8 concurrent claimers never get the same message and together get all 500", arguments: MessageStoreBackend.allCases)
    func concurrentClaimers(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            let other = try await stores.anotherView()
            try await stores.messages.enqueue((0..<500).map { pending(.integer($0)) }, maxBacklog: roomy)
            let claimers = [stores.messages, other.messages]
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for store in claimers {
                    for _ in 0..<4 {
                        group.addTask {
                            var ids: [Int64] = []
                            while true {
                                let batch = try await store.claim(from: counterIn, limit: 10, leaseDuration: longLease).messages
                                if batch.isEmpty { return ids }
                                ids += batch.map(\.lease.id)
                                try await store.settle(Settlement(acknowledged: batch.map(\.lease)), maxBacklog: roomy)
                            }
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 500)
            #expect(Set(claimed).count == 500)
            #expect(try await stores.messages.backlog(of: counterIn) == 0)
        }
    }

    @Test("a closed message store refuses operations as unavailable", arguments: MessageStoreBackend.allCases)
    func closedStore(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            await stores.messages.close()
            let error = await #expect(throws: MessageStoreError.self) {
                try await stores.messages.enqueue([pending("job")], maxBacklog: roomy)
            }
            guard case .unavailable? = error else { Issue.record("expected unavailable, got \(String(describing: error))"); return }
            await #expect(throws: MessageStoreError.self) { _ = try await stores.messages.backlog(of: counterIn) }
            await #expect(throws: MessageStoreError.self) { try await stores.messages.checkAvailability() }
        }
    }

    @Test("an open store is available", arguments: MessageStoreBackend.allCases)
    func available(backend: MessageStoreBackend) async throws {
        try await backend.withStores { stores in
            try await stores.messages.checkAvailability()
        }
    }

    // MARK: Helpers

    /// Checks that no settlement of `claimed` took effect: it is still leased (its lease extends),
    /// nothing was sent to the logger, and the counter's context holds no count.
    private func expectNothingApplied(
        _ stores: MessageStoreFixture, _ claimed: LeasedMessage, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(try await stores.messages.extend([claimed.lease], leaseDuration: longLease) == [claimed.lease],
            "the message is still leased", sourceLocation: sourceLocation)
        #expect(try await stores.messages.backlog(of: counterIn) == 1, sourceLocation: sourceLocation)
        #expect(try await stores.messages.backlog(of: loggerIn) == 0, sourceLocation: sourceLocation)
        #expect(try await stores.context.get("count", in: counterScope) == nil, sourceLocation: sourceLocation)
        #expect(try await stores.messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).isEmpty,
            sourceLocation: sourceLocation)
    }

    /// Waits (up to 30 s) for `key` to be signalled after `seen`; fails if the deadline, not a
    /// signal, ended the wait.
    private func wake(
        _ signals: QueueSignals, _ key: QueueSignals.Key, after seen: UInt64, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        await signals.wait(for: key, after: seen, until: deadline)
        #expect(signals.generation(key) > seen, "\(key) was not signalled", sourceLocation: sourceLocation)
    }
}
