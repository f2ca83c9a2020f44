import CommonComponents
import ComponentKit
import ContextStoreAPI
import ContextStoreSQLite
import Foundation
import MessageStoreAPI
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

/// Writes a key of its node's context for every message, then fails on those that say `"boom": true`.
struct Scribble: Component {
    struct Refused: Error {}
    static let info = ComponentInfo(name: "scribble", description: "Writes context, then fails on demand.")
    static let ports: [PortDefinition] = [
        .input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error,
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        try await context.store(.node).set("seen-\(message.payload["n"]?.intValue ?? 0)", true)
        if message.payload["boom"] == true { throw Refused() }
        try await output.send("out", message)
    }
}

private let durableModule = ModuleDefinition(
    name: "test", version: "1", components: [Scribble.self, Picky.self, Flaky.self] + CommonModule.definition.components.values)

/// Runs `body` with an SQLite context store in a fresh directory and the message store sharing its file.
private func withStores<T>(_ body: (SQLiteContextStore, SQLiteMessageStore) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-durable-\(UUID().uuidString.prefix(8))")
    defer { try? FileManager.default.removeItem(at: directory) }
    let context = try SQLiteContextStore(path: directory.appendingPathComponent("context.db").path)
    let messages = SQLiteMessageStore(sharing: context)
    let result: Result<T, any Error>
    do { result = .success(try await body(context, messages)) } catch { result = .failure(error) }
    await messages.close()
    await context.close()
    return try result.get()
}

/// `source` (forward) sends on a durable edge to `target`'s port `in`; the target's definition lists
/// that port as a durable input, as the operator's plan does.
private func durablePair(
    target: NodeDefinition, retry: RetryPolicy? = nil, paused: Bool? = nil
) -> [NodeDefinition] {
    var target = target
    target.durableInputs = ["in"]
    target.paused = paused
    if let retry { target.durableRetryPolicies = ["source/stored": retry] }
    return [
        definition("source", "picky", edges: [edge("out", to: "\(target.name):in", id: "stored", delivery: .durable)]),
        target,
    ]
}

private let queueOfSink = DurableQueue(namespace: "default", node: "sink", port: "in")
private let sourceIn = PortAddress(node: "source", port: "in")

/// Deploys the durable pair with `sink` paused, sends `numbers` through the source and waits
/// until they are stored for the sink.
private func storeForPausedSink(
    _ numbers: ClosedRange<Int>, sink: NodeDefinition, runtime: ModuleRuntime, messages: SQLiteMessageStore, generation: Int64 = 1
) async throws {
    _ = await runtime.sync(DesiredNodes(generation: generation, nodes: durablePair(target: sink, paused: true)))
    for n in numbers { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
    try await eventually("\(numbers.count) messages stored") { try await messages.backlog(of: queueOfSink) == numbers.count }
}

/// Deploys the durable pair again with `sink` running (generation 2): a paused sink resumes.
private func resumeSink(_ sink: NodeDefinition, runtime: ModuleRuntime) async {
    var resumed = durablePair(target: sink)
    resumed[1].generation = 2
    _ = await runtime.sync(DesiredNodes(generation: 2, nodes: resumed))
}

@Suite("Durable edges in a module runtime", .timeLimit(.minutes(1)))
struct DurableEdgeRuntimeTests {
    @Test("messages on a durable edge are stored, handled by the target in order and acknowledged: the backlog empties")
    func storedHandledAcknowledged() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let result = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(
                    target: definition("sink", "debug", settings: ["keep": 100, "log": false]))))
                #expect(result.nodes.map(\.phase) == [.running, .running])
                for n in 1...20 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
                try await eventually("20 messages at the sink") { (runtime.counters("sink")?.delivered ?? 0) == 20 }
                let received = await runtime.debugMessages("sink").compactMap { $0.payload["n"]?.intValue }
                #expect(received == Array(1...20))
                try await eventually("an empty backlog") { try await messages.backlog(of: queueOfSink) == 0 }
                let counters = try #require(runtime.counters("sink"))
                #expect(counters.received == 20)
                #expect(counters.isBalanced)
                try await eventually("the backlog reported") { runtime.counters("sink")?.backlog == 0 }
            }
        }
    }

    @Test("a kv increment behind a durable edge counts every message exactly once")
    func incrementsExactlyOnce() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                var counter = definition("counter", "kv", settings: ["key": "count"])
                counter.durableInputs = ["increment"]
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                    definition("source", "picky", edges: [edge("out", to: "counter:increment", id: "stored", delivery: .durable)]),
                    counter,
                ]))
                for n in 1...50 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
                try await eventually("50 increments handled") { (runtime.counters("counter")?.delivered ?? 0) == 50 }
                let count = try await context.get("count", in: .node(namespace: "default", node: "counter"))
                #expect(count?.value == 50)
            }
        }
    }

    @Test("a failed handler's context writes are taken back; the message is retried as its edge's policy says, then dead-lettered and reported on the error port")
    func failuresRetriedThenDeadLettered() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let retry = RetryPolicy(maxAttempts: 3, initialDelay: "10ms", maxDelay: "20ms")
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(
                    target: definition("sink", "scribble", edges: [edge("error", to: "errors:in")]), retry: retry)
                    + [definition("errors", "debug", settings: ["log": false])]))
                try await runtime.deliver(Message(to: sourceIn, payload: ["n": 1]))
                try await runtime.deliver(Message(id: "bad", to: sourceIn, payload: ["n": 2, "boom": true]))
                try await eventually("the failing message dead-lettered", context: {
                    "sink: \(String(describing: runtime.report("sink"))), backlog \((try? await messages.backlog(of: queueOfSink)) ?? -1)"
                }) {
                    try await !messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).isEmpty
                }
                let dead = try await messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10)
                #expect(dead.count == 1)
                #expect(dead.first?.message.payload["n"] == 2)
                #expect(dead.first?.attempts == 3)
                #expect(dead.first?.reason == .attemptsExhausted)
                #expect(dead.first?.edge == DurableEdge(node: "source", edge: "stored"))
                #expect(dead.first?.lastError.contains("Refused") == true)
                let scope = ContextScope.node(namespace: "default", node: "sink")
                #expect(try await context.get("seen-1", in: scope) != nil)
                #expect(try await context.get("seen-2", in: scope) == nil)
                try await eventually("the report on the error port") { await !runtime.debugMessages("errors").isEmpty }
                let counters = try #require(runtime.counters("sink"))
                #expect(counters.deadLettered == 1)
                #expect(counters.redelivered == 2)
                #expect((counters.received, counters.delivered, counters.errored) == (4, 1, 1))
            }
        }
    }

    @Test("a handler failing because its store is unavailable does not use up the message's attempts: with one attempt allowed, each message is handled once the store answers, none dead-lettered")
    func storeOutagesAreNotAttempts() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let sink = definition("sink", "flaky", settings: ["failures": 1, "outage": true], edges: [edge("out", to: "seen:in")])
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(target: sink)
                    + [definition("seen", "debug", settings: ["keep": 100, "log": false])]))
                for n in 1...3 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
                try await eventually("the 3 messages handled after the outages", context: {
                    "sink: \(String(describing: runtime.report("sink"))), backlog \((try? await messages.backlog(of: queueOfSink)) ?? -1)"
                }) {
                    (runtime.counters("seen")?.delivered ?? 0) == 3
                }
                let seen = await runtime.debugMessages("seen").compactMap { $0.payload["n"]?.intValue }
                #expect(seen == [1, 2, 3])
                #expect(try await messages.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10).isEmpty)
                // The sink counts a message delivered once its batch is settled, after its sends.
                try await eventually("the sink's 3 deliveries counted") { runtime.counters("sink")?.delivered == 3 }
                let counters = try #require(runtime.counters("sink"))
                #expect((counters.delivered, counters.errored, counters.deadLettered) == (3, 0, 0))
                try await eventually("an empty backlog") { try await messages.backlog(of: queueOfSink) == 0 }
                try await eventually("the outage no longer the node's error") { runtime.report("sink")?.lastError == nil }
            }
        }
    }

    @Test("a host without a message store refuses nodes with durable edges, out and in, with DurableStoreUnavailable; the others run")
    func noStoreRefusesDurableNodes() async throws {
        try await withRuntime(durableModule) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(
                target: definition("sink", "debug", settings: ["log": false])) + [definition("plain", "debug", settings: ["log": false])]))
            let byName = Dictionary(uniqueKeysWithValues: result.nodes.map { ($0.name, $0) })
            #expect(byName["plain"]?.phase == .running)
            for name in ["source", "sink"] {
                #expect(byName[name]?.phase == .failed)
                #expect(byName[name]?.reason == NodeRejection.durableStoreUnavailable)
                #expect(byName[name]?.error?.contains("persistent store") == true)
            }
        }
    }

    @Test("a paused node's durable input keeps its messages stored; resumed, they are handled")
    func pauseAndResume() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(target: sink, paused: true)))
                for n in 1...5 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
                try await eventually("5 messages stored") { try await messages.backlog(of: queueOfSink) == 5 }
                try await eventually("the source done") { runtime.counters("source")?.delivered == 5 }
                // Nothing was taken while paused: nothing handled, nothing claimed.
                #expect(runtime.counters("sink")?.delivered == 0)
                #expect(runtime.counters("sink")?.received == 0)
                await resumeSink(sink, runtime: runtime)
                try await eventually("5 messages handled after resuming") { (runtime.counters("sink")?.delivered ?? 0) == 5 }
                #expect(try await messages.backlog(of: queueOfSink) == 0)
            }
        }
    }

    @Test("a paused flow's source does not run while a running one beside it ticks; resumed, it runs")
    func pausedSourcesDoNotRun() async throws {
        try await withRuntime(durableModule) { runtime in
            var held = definition("held", "ticker", settings: ["interval": 5], edges: [edge("out", to: "sink:in")])
            held.paused = true
            let running = definition("running", "ticker", settings: ["interval": 5], edges: [edge("out", to: "sink:in")])
            let sink = definition("sink", "debug", settings: ["log": false])
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [held, running, sink]))
            try await eventually("the running ticker's 10 ticks") { (runtime.counters("running")?.sent ?? 0) >= 10 }
            #expect(runtime.counters("held")?.sent == 0)
            held.paused = nil
            held.generation = 2
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [held, running, sink]))
            try await eventually("the resumed ticker's ticks") { (runtime.counters("held")?.sent ?? 0) >= 3 }
        }
    }

    @Test("messages one runtime stored are handled by the next runtime on the same store, as after a host's death")
    func storedMessagesOutliveTheRuntime() async throws {
        try await withStores { context, messages in
            let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                try await storeForPausedSink(1...7, sink: sink, runtime: runtime, messages: messages)
            }
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(target: sink)))
                try await eventually("the 7 stored messages handled") { (runtime.counters("sink")?.delivered ?? 0) == 7 }
                let received = await runtime.debugMessages("sink").compactMap { $0.payload["n"]?.intValue }
                #expect(received == Array(1...7))
            }
        }
    }

    @Test("a higher-priority message waiting behind lower ones is handled first")
    func priorityOrder() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: durablePair(target: sink, paused: true)))
                for n in 1...3 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)], priority: 0)) }
                try await runtime.deliver(Message(to: sourceIn, payload: ["n": 9], priority: 5))
                try await eventually("4 messages stored") { try await messages.backlog(of: queueOfSink) == 4 }
                await resumeSink(sink, runtime: runtime)
                try await eventually("4 messages handled") { (runtime.counters("sink")?.delivered ?? 0) == 4 }
                let received = await runtime.debugMessages("sink").compactMap { $0.payload["n"]?.intValue }
                #expect(received == [9, 1, 2, 3])
            }
        }
    }

    @Test("messages stored for a port no durable edge leads to any more (the source deleted) are handled: by the running host once the edge is gone, and by a host that starts afterwards")
    func storedMessagesOutliveTheirEdge() async throws {
        try await withStores { context, messages in
            let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                try await storeForPausedSink(1...4, sink: sink, runtime: runtime, messages: messages)
                // The source and its edge are gone; the sink, resumed, has no durable input now.
                var alone = sink
                alone.generation = 2
                _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [alone]))
                try await eventually("the 4 stored messages handled") { (runtime.counters("sink")?.delivered ?? 0) == 4 }
                #expect(await runtime.debugMessages("sink").compactMap { $0.payload["n"]?.intValue } == [1, 2, 3, 4])
                // Stored while the sink's host was down: the next host takes them without an edge.
                try await storeForPausedSink(5...6, sink: sink, runtime: runtime, messages: messages, generation: 3)
            }
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [sink]))
                try await eventually("the 2 stored messages handled by the next host") { (runtime.counters("sink")?.delivered ?? 0) == 2 }
                #expect(try await messages.backlog(of: queueOfSink) == 0)
            }
        }
    }

    // Found by the acceptance tests (a flow across two hosts of `tinyflow up`): while the target's
    // module had not reported its components yet, the sync named no host for it and sends on the
    // durable edge failed ("no node … on this host"), which dead-lettered the message being handled.
    @Test("a durable edge stores its messages while its target runs nowhere (a sync names no host for it); the target takes them once it runs")
    func storesWhileTheTargetRunsNowhere() async throws {
        try await withStores { context, messages in
            try await withRuntime(durableModule, contextStore: context, messageStore: messages) { runtime in
                let pair = durablePair(target: definition("sink", "debug", settings: ["keep": 100, "log": false]))
                let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [pair[0]]))
                #expect(result.nodes.map(\.phase) == [.running])
                for n in 1...3 { try await runtime.deliver(Message(to: sourceIn, payload: ["n": .integer(n)])) }
                try await eventually("3 messages stored") { try await messages.backlog(of: queueOfSink) == 3 }
                #expect(runtime.counters("source")?.errored == 0)
                _ = await runtime.sync(DesiredNodes(generation: 2, nodes: pair))
                try await eventually("the 3 stored messages handled") { (runtime.counters("sink")?.delivered ?? 0) == 3 }
            }
        }
    }
}
