import Backoff
import ComponentKit
import ContextStoreAPI
import ContextStorePostgres
import Foundation
import JSONSchemaKit
import Logging
import MessageStoreAPI
import PostgresTestSupport
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Whether the PostgreSQL tests run: when PostgreSQL is installed, or required (then they
/// fail if it cannot start); never in the unit tier (`TINYFLOW_TEST_TIER=unit`: no servers).
private let postgresTestsEnabled =
    ProcessInfo.processInfo.environment["TINYFLOW_TEST_TIER"] != "unit" && (PostgresServer.isRequired || PostgresServer.isInstalled)
private let postgresMissing: Comment = """
    PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres), or the unit tier runs; \
    set TINYFLOW_REQUIRE_POSTGRES=1 to make a missing server a failure
    """

private let queue = DurableQueue(namespace: "default", node: "counter", port: "in")
private let edge = DurableEdge(node: "ticker", edge: "to-counter")

private func job(_ payload: JSONValue) -> PendingMessage {
    PendingMessage(queue: queue, edge: edge, message: Message(to: PortAddress(node: queue.node, port: queue.port), payload: payload))
}

/// Reconnects quickly, so that tests of outages do not wait for the production delays.
private let quickReconnect = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500))

/// Runs `body` with a context store and a message store on `configuration`, both services
/// running beside it, then closes them and waits for the services to return.
private func withRunningStores<T: Sendable>(
    _ configuration: PostgresContextStore.Configuration,
    _ body: @Sendable (PostgresMessageStore, PostgresContextStore) async throws -> T
) async throws -> T {
    let context = PostgresContextStore(configuration: configuration)
    let messages = PostgresMessageStore(contextStore: context, reconnectBackoff: quickReconnect)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await context.run() }
        group.addTask { try await messages.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(messages, context)) } catch { result = .failure(error) }
        await messages.close()
        await context.close()
        try await group.waitForAll()
        return try result.get()
    }
}

/// Waits (up to 30 s) for `key` of `signals` to be signalled after `seen`; fails if the
/// deadline, not a signal, ended the wait.
private func expectSignal(
    _ signals: QueueSignals, _ key: QueueSignals.Key, after seen: UInt64, sourceLocation: SourceLocation = #_sourceLocation
) async {
    await signals.wait(for: key, after: seen, until: ContinuousClock.now + .seconds(30))
    #expect(signals.generation(key) > seen, "\(key) was not signalled", sourceLocation: sourceLocation)
}

@Suite("PostgreSQL message store", .enabled(if: postgresTestsEnabled, postgresMissing), .timeLimit(.minutes(3)))
struct PostgresMessageStoreTests {
    @Test("a commit through one store wakes the consumers and senders of another store on the same database, which only listens")
    func notificationsReachAnotherStore() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        try await withRunningStores(configuration) { first, _ in
            try await withRunningStores(configuration) { second, _ in
                try await eventually("the second store listens", timeout: .seconds(30)) { second.isListening }
                let work = QueueSignals.Key.work(queue)
                let space = QueueSignals.Key.space(queue)
                var seen = second.signals.generation(work)
                try await first.enqueue([job("hello")], maxBacklog: 100)
                await expectSignal(second.signals, work, after: seen)

                seen = second.signals.generation(space)
                let claimed = try await first.claim(from: queue, limit: 10, leaseDuration: .seconds(60)).messages
                try await first.settle(Settlement(acknowledged: claimed.map(\.lease)), maxBacklog: 100)
                await expectSignal(second.signals, space, after: seen)
            }
        }
    }

    @Test("two stores (two pools, as two replicas) claiming 1,000 messages with 12 claimers never hand out one twice")
    func concurrentClaimsAreDisjoint() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        try await withRunningStores(configuration) { first, _ in
            try await withRunningStores(configuration) { second, _ in
                try await first.enqueue((0..<1_000).map { job(.integer($0)) }, maxBacklog: 10_000)
                // Leases are held to the end: a message handed out twice would have to be
                // claimed while leased, which only a broken claim does.
                let claimed = try await withThrowingTaskGroup(of: [LeasedMessage].self) { group in
                    for (index, store) in [first, second, first, second, first, second].enumerated() {
                        for claimer in 0..<2 {
                            group.addTask {
                                var mine: [LeasedMessage] = []
                                var limit = 1 + (index * 2 + claimer) % 13
                                while true {
                                    let batch = try await store.claim(from: queue, limit: limit, leaseDuration: .seconds(600))
                                    if batch.messages.isEmpty { return mine }
                                    mine += batch.messages
                                    limit = 1 + (limit * 7) % 13
                                }
                            }
                        }
                    }
                    return try await group.reduce(into: [LeasedMessage]()) { $0 += $1 }
                }
                #expect(claimed.count == 1_000)
                #expect(Set(claimed.map(\.lease.id)).count == 1_000)
                #expect(Set(claimed.map(\.message.payload)) == Set((0..<1_000).map { JSONValue.integer($0) }))
                #expect(claimed.allSatisfy { $0.attempts == 1 })
                try await second.settle(Settlement(acknowledged: claimed.map(\.lease)), maxBacklog: 10_000)
                #expect(try await first.backlog(of: queue) == 0)
            }
        }
    }

    @Test("concurrent enqueues from two stores keep the backlog limit exact, each call refused or stored whole")
    func backlogLimitAcrossStores() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        try await withRunningStores(configuration) { first, _ in
            try await withRunningStores(configuration) { second, _ in
                let stored = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<60 {
                        let store = index.isMultiple(of: 2) ? first : second
                        group.addTask {
                            do {
                                try await store.enqueue([job(.integer(index)), job(.integer(index))], maxBacklog: 41)
                                return 2
                            } catch MessageStoreError.backlogFull(let full, let limit) {
                                #expect(full == queue && limit == 41)
                                return 0
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(stored == 40, "pairs fit 20 times under 41")
                #expect(try await first.backlog(of: queue) == 40)
                let payloads = try await second.claim(from: queue, limit: 100, leaseDuration: .seconds(60)).messages.map(\.message.payload)
                #expect(Dictionary(grouping: payloads, by: { $0 }).values.allSatisfy { $0.count == 2 }, "no call stored in part")
            }
        }
    }

    @Test("a database of message schema version 1 holding messages is migrated: each queue's backlog counter starts from what it holds")
    func migratesVersionOne() async throws {
        let server = try await PostgresServer.shared()
        let url = try await server.createDatabase()
        let database = try #require(URLComponents(string: url)?.path.dropFirst().description)
        let other = DurableQueue(namespace: "default", node: "logger", port: "in")
        try await withRunningStores(try patientConfiguration(url: url)) { messages, _ in
            try await messages.enqueue([job(1), job(2), job(3), PendingMessage(queue: other, edge: edge, message: Message(payload: 4))], maxBacklog: 100)
        }
        // Back to version 1: no counters, no triggers, one more message stored meanwhile.
        try await server.psql(
            """
            DROP TRIGGER tinyflow_messages_counted ON tinyflow_messages;
            DROP TRIGGER tinyflow_messages_uncounted ON tinyflow_messages;
            DROP TABLE tinyflow_queue_backlog;
            UPDATE tinyflow_schema_versions SET version = 1 WHERE component = 'message-store';
            INSERT INTO tinyflow_messages (namespace, node, port, edge_node, edge, body, priority, visible_at)
                SELECT namespace, node, port, edge_node, edge, body, priority, visible_at FROM tinyflow_messages LIMIT 1;
            """, database: database)
        try await withRunningStores(try patientConfiguration(url: url)) { messages, _ in
            #expect(try await messages.backlog(of: queue) == 4)
            #expect(try await messages.backlog(of: other) == 1)
            try await messages.enqueue([job(5)], maxBacklog: 100)
            let claimed = try await messages.claim(from: queue, limit: 2, leaseDuration: .seconds(60)).messages
            try await messages.settle(Settlement(acknowledged: claimed.map(\.lease)), maxBacklog: 100)
            #expect(try await messages.backlog(of: queue) == 3)
            await #expect(throws: MessageStoreError.backlogFull(queue: queue, limit: 4)) {
                try await messages.enqueue([job(6), job(7)], maxBacklog: 4)
            }
        }
    }

    @Test("PostgreSQL stopped: operations fail as unavailable within the deadline; started again: the same stores work and listen again")
    func outageAndRecovery() async throws {
        let server = try await PostgresServer.launch()
        do {
            try await outage(on: server)
        } catch {
            await server.terminate()
            throw error
        }
        await server.terminate()
    }

    private func outage(on server: PostgresServer) async throws {
        let url = try await server.createDatabase()
        // The schema is made first, with patient deadlines: migrating is not what this test times.
        try await withRunningStores(try patientConfiguration(url: url)) { messages, _ in try await messages.checkAvailability() }
        var short = try PostgresContextStore.Configuration(url: url)
        short.operationTimeout = .seconds(2)
        short.connectTimeout = .seconds(1)
        short.availabilityTimeout = .seconds(2)
        let configuration = short
        try await withRunningStores(configuration) { messages, _ in
            try await messages.enqueue([job("before")], maxBacklog: 100)
            let held = try #require(try await messages.claim(from: queue, limit: 1, leaseDuration: .seconds(600)).messages.first)
            try await messages.checkAvailability()
            try await eventually("listening", timeout: .seconds(30)) { messages.isListening }

            await server.stop()
            try await eventually("the listener noticed", timeout: .seconds(30)) { !messages.isListening }
            let clock = ContinuousClock()
            for operation in ["enqueue", "claim", "settle", "backlog", "checkAvailability"] {
                let start = clock.now
                let error = await #expect(throws: MessageStoreError.self, "\(operation)") {
                    switch operation {
                    case "enqueue": try await messages.enqueue([job("during")], maxBacklog: 100)
                    case "claim": _ = try await messages.claim(from: queue, limit: 1, leaseDuration: .seconds(60))
                    case "settle": try await messages.settle(Settlement(acknowledged: [held.lease]), maxBacklog: 100)
                    case "backlog": _ = try await messages.backlog(of: queue)
                    default: try await messages.checkAvailability()
                    }
                }
                let elapsed = start.duration(to: clock.now)
                #expect(elapsed < .seconds(6), "\(operation) took \(elapsed)")
                guard case .unavailable(let name, let reason)? = error else {
                    Issue.record("\(operation): expected unavailable, got \(String(describing: error))")
                    continue
                }
                #expect(name == configuration.redacted)
                #expect(!reason.isEmpty && !reason.contains(PostgresServer.password), "\(reason)")
                #expect(!reason.contains(PostgresServer.encodedPassword))
            }

            try await server.start()
            // The same store instances, once the pool and the listener reconnected (an operation
            // can still miss its 2 s deadline on a loaded machine: each is retried until it answers).
            try await eventually("the lease held before the outage settles", timeout: .seconds(60), interval: .milliseconds(100)) {
                (try? await messages.settle(Settlement(acknowledged: [held.lease]), maxBacklog: 100)) != nil
            }
            try await eventually("an enqueue commits again", timeout: .seconds(30), interval: .milliseconds(100)) {
                (try? await messages.enqueue([job("after")], maxBacklog: 100)) != nil
            }
            try await eventually("the backlog read again", timeout: .seconds(30), interval: .milliseconds(100)) {
                (try? await messages.backlog(of: queue)) == 1
            }
            try await eventually("listening again", timeout: .seconds(30)) { messages.isListening }

            // Another process's commit reaches this store again.
            try await withRunningStores(configuration) { other, _ in
                let key = QueueSignals.Key.work(queue)
                let seen = messages.signals.generation(key)
                // A new store's first operation connects; on a loaded machine that can miss the 2 s deadline.
                try await eventually("another store's enqueue commits", timeout: .seconds(30), interval: .milliseconds(100)) {
                    (try? await other.enqueue([job("from elsewhere")], maxBacklog: 100)) != nil
                }
                await expectSignal(messages.signals, key, after: seen)
            }
        }
    }

    @Test("the listening service stops on a graceful shutdown of its service group, before the context store's")
    func listenerStopsOnGracefulShutdown() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        let context = PostgresContextStore(configuration: configuration)
        let messages = PostgresMessageStore(contextStore: context)
        let group = ServiceGroup(services: [context, messages], logger: Logger(label: "tinyflow.test.message-store"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await eventually("listening", timeout: .seconds(30)) { messages.isListening }
            try await messages.enqueue([job("during")], maxBacklog: 100)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(!messages.isListening)
        try await messages.run()  // returns at once: it ran and stopped
        await messages.close()
    }

    @Test("the listening service stops when the context store it shares is closed")
    func listenerStopsWithTheContextStore() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        let context = PostgresContextStore(configuration: configuration)
        let messages = PostgresMessageStore(contextStore: context)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await context.run() }
            tasks.addTask { try await messages.run() }
            try await eventually("listening", timeout: .seconds(30)) { messages.isListening }
            await context.close()
            try await tasks.waitForAll()
        }
        #expect(!messages.isListening)
        let error = await #expect(throws: MessageStoreError.self) { _ = try await messages.backlog(of: queue) }
        guard case .unavailable(_, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("closed"), "\(reason)")
        await messages.close()
    }

    @Test("a wrong password is reported by checkAvailability as an authentication failure, without the password")
    func wrongPassword() async throws {
        var wrong = try PostgresContextStore.Configuration(url: try await PostgresServer.shared().createDatabase())
        wrong.password = "not-the-password"
        // The refusal comes at once; the time is for a loaded machine, where connecting to a
        // server that many parallel tests share took more than 3 s.
        wrong.operationTimeout = .seconds(20)
        wrong.availabilityTimeout = .seconds(20)
        let configuration = wrong
        try await withRunningStores(configuration) { messages, _ in
            let error = await #expect(throws: MessageStoreError.self) { try await messages.checkAvailability() }
            guard case .unavailable(let name, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(name == configuration.redacted)
            #expect(reason.contains("password authentication failed"), "\(reason)")
            #expect(!reason.contains("not-the-password") && !reason.contains(PostgresServer.password))
            #expect(!messages.isListening)
        }
    }
}
