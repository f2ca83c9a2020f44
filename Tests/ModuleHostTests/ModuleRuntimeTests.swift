import CommonComponents
import ComponentKit
import Foundation
import Logging
import ModuleHost
import Synchronization
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("Module runtime", .timeLimit(.minutes(2)))
struct ModuleRuntimeTests {
    @Test("messages flow across several nodes, in order per edge")
    func wiring() async throws {
        try await withRuntime(testModule) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("tick", "ticker", settings: ["interval": 1, "payload": "hi"], edges: [edge("out", to: "pass:in")]),
                definition("pass", "forward", edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["keep": 1000, "log": false]),
            ]))
            #expect(result.nodes.map(\.phase) == [.running, .running, .running])
            try await eventually("20 ticks at the sink") { (runtime.counters("sink")?.delivered ?? 0) >= 20 }
            let counts = await runtime.debugMessages("sink").compactMap { $0.payload["count"]?.intValue }
            #expect(Array(counts.prefix(20)) == Array(1...20))
        }
    }

    @Test("a handler error goes to the error port with the original message; counters balance")
    func errorPort() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("picky", "picky", edges: [edge("out", to: "good:in"), edge("error", to: "bad:in")]),
                definition("good", "debug", settings: ["log": false]),
                definition("bad", "debug", settings: ["log": false]),
            ]))
            let target = PortAddress(node: "picky", port: "in")
            try await runtime.deliver(Message(to: target, payload: ["fail": false]))
            try await runtime.deliver(Message(id: "m2", to: target, payload: ["fail": true]))
            try await eventually("the error report") { await !runtime.debugMessages("bad").isEmpty }
            let report = try #require(await runtime.debugMessages("bad").first?.payload)
            #expect(report["node"] == "picky")
            #expect(report["port"] == "in")
            #expect(report["errorType"] == "Refused")
            #expect(report["message"]?["id"] == "m2")
            #expect(report["message"]?["payload"] == ["fail": true])
            let counters = try #require(runtime.counters("picky"))
            #expect((counters.received, counters.delivered, counters.errored) == (2, 1, 1))
            #expect(counters.isBalanced)
        }
    }

    @Test("a message past its deadline is counted as expired and reported, not handled")
    func expiry() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("picky", "picky", edges: [edge("out", to: "good:in"), edge("error", to: "bad:in")]),
                definition("good", "debug", settings: ["log": false]),
                definition("bad", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: 1, deadline: .distantPast))
            try await eventually("the expiry report") { await !runtime.debugMessages("bad").isEmpty }
            #expect(await runtime.debugMessages("bad").first?.payload["errorType"] == "DeliveryError")
            let counters = try #require(runtime.counters("picky"))
            #expect((counters.received, counters.expired, counters.delivered) == (1, 1, 0))
            #expect(runtime.counters("good")?.received == 0)
        }
    }

    @Test("an edge's retry policy retries a failing handler until it succeeds")
    func retrySucceeds() async throws {
        try await withRuntime(testModule) { runtime in
            let retry = RetryPolicy(maxAttempts: 3, initialDelay: "1ms", maxDelay: "5ms")
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("in", "forward", edges: [edge("out", to: "flaky:in", retry: retry)]),
                definition("flaky", "flaky", settings: ["failures": 2], edges: [edge("out", to: "sink:in"), edge("error", to: "errors:in")]),
                definition("sink", "debug", settings: ["log": false]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "in", port: "in"), payload: "x"))
            try await eventually("delivery after retries") { runtime.counters("sink")?.delivered == 1 }
            #expect(runtime.counters("flaky")?.errored == 0)
            #expect(runtime.counters("errors")?.received == 0)
        }
    }

    @Test("retries give up after maxAttempts, and non-retryable errors are not retried")
    func retryGivesUp() async throws {
        try await withRuntime(testModule) { runtime in
            let retry = RetryPolicy(maxAttempts: 2, initialDelay: "1ms", maxDelay: "5ms", nonRetryableErrors: ["Fatal"])
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("in", "forward", edges: [edge("out", to: "flaky:in", retry: retry), edge("out", to: "fatal:in", retry: retry)]),
                definition("flaky", "flaky", settings: ["failures": 5], edges: [edge("error", to: "errors:in")]),
                definition("fatal", "flaky", settings: ["fatal": true], edges: [edge("error", to: "errors:in")]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "in", port: "in"), payload: "x"))
            try await eventually("two failure reports") { await runtime.debugMessages("errors").count == 2 }
            let reports = await runtime.debugMessages("errors").map(\.payload)
            #expect(Set(reports.compactMap { $0["errorType"]?.stringValue }) == ["Transient", "Fatal"])
            #expect(runtime.counters("flaky")?.errored == 1)
            #expect(runtime.counters("fatal")?.errored == 1)
        }
    }

    @Test("request/reply within a module returns the reply of the chain")
    func requestReply() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("asker", "requester", edges: [edge("ask", to: "hop:in"), edge("out", to: "sink:in"), edge("error", to: "errors:in")]),
                definition("hop", "forward", edges: [edge("out", to: "answer:in")]),
                definition("answer", "responder"),
                definition("sink", "debug", settings: ["log": false]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "asker", port: "in"), payload: "ping"))
            try await eventually("the reply at the sink") { await !runtime.debugMessages("sink").isEmpty }
            #expect(await runtime.debugMessages("sink").first?.payload == ["echo": "ping"])

            let direct = try await runtime.request(Message(to: PortAddress(node: "answer", port: "in"), payload: 7))
            #expect(direct == ["echo": 7])
        }
    }

    @Test("a request nobody answers fails at its deadline instead of hanging")
    func requestDeadline() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("answer", "responder")]))
            let started = ContinuousClock.now
            await #expect(throws: RequestError.self) {
                try await runtime.request(
                    Message(to: PortAddress(node: "answer", port: "in"), payload: ["silent": true], deadline: Date().addingTimeInterval(0.2)))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("a slow consumer suspends its producer; its channel never exceeds capacity")
    func backpressure() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.channelCapacity = 4
        configuration.batchSize = 1
        try await withRuntime(testModule, configuration: configuration) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("tick", "ticker", settings: ["interval": 1], edges: [edge("out", to: "slow-bp:in")]),
                definition("slow-bp", "held", edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["keep": 1000, "log": false]),
                // A second 1 ms ticker on its own path: its ticks show time passing for tickers.
                definition("clock", "ticker", settings: ["interval": 1], edges: [edge("out", to: "clock-sink:in")]),
                definition("clock-sink", "debug", settings: ["keep": 1, "log": false]),
            ]))
            let gate = Gates.shared.gate("slow-bp")
            // Opened whatever happens: a held message would keep the runtime's shutdown waiting.
            defer { gate.openGate() }
            let capacity = configuration.channelCapacity
            do {
                try await eventually("the slow node to hold a message and its queue to fill") {
                    gate.arrived.withLock { $0 } == 1 && (runtime.counters("slow-bp")?.received ?? 0) >= capacity
                }
            } catch {
                Issue.record("arrived \(gate.arrived.withLock { $0 }), reports \(runtime.statusReports())")
                throw error
            }
            // The ticker keeps trying every millisecond but is suspended: at most capacity + batch
            // size get in (1 in the handler + 4 queued). If the ticker found the channel full before
            // the handler took the first message, it stays suspended until the queue drains to the
            // low watermark: then 1 + 3.
            // Wait until the ticker has started a send the full channel holds (it counts a message
            // as sent before the channel takes it) and the clock has ticked 20 more times since:
            // a ticker that was not held would have sent about as many more.
            let clockBefore = runtime.counters("clock-sink")?.delivered ?? 0
            try await eventually("the ticker held in a send while the clock ticks 20 times") {
                (runtime.counters("clock-sink")?.delivered ?? 0) >= clockBefore + 20
                    && (runtime.counters("tick")?.sent ?? 0) > (runtime.counters("slow-bp")?.received ?? 0)
            }
            let received = runtime.counters("slow-bp")?.received ?? 0
            #expect((capacity...capacity + configuration.batchSize).contains(received))
            #expect((runtime.counters("tick")?.sent ?? 0) <= received + 1, "one send at most is suspended")
            gate.openGate()
            try await eventually("messages flow again") { (runtime.counters("sink")?.delivered ?? 0) >= 20 }
        }
    }

    @Test("reconfiguring a node keeps its queued messages and applies the new settings")
    func reconfigureWithoutLoss() async throws {
        try await withRuntime(testModule) { runtime in
            let nodes = { (interval: Int, generation: Int64) in
                DesiredNodes(generation: generation, nodes: [
                    definition("tick", "ticker", settings: ["interval": .integer(interval)], edges: [edge("out", to: "sink:in")], generation: generation),
                    definition("sink", "debug", settings: ["keep": 1000, "log": false], generation: generation),
                ])
            }
            _ = await runtime.sync(nodes(1, 1))
            try await eventually("ticks") { (runtime.counters("sink")?.delivered ?? 0) >= 10 }
            _ = await runtime.sync(nodes(2, 2))
            #expect(runtime.report("tick")?.generation == 2)
            try await eventually("more ticks after reconfiguring") { (runtime.counters("sink")?.delivered ?? 0) >= 30 }
            let counts = await runtime.debugMessages("sink").compactMap { $0.payload["count"]?.intValue }
            #expect(counts == Array(1...counts.count), "no tick lost or reordered across the reconfiguration")
        }
    }

    @Test("removing a node does not wait for it: it refuses new messages at once and handles what it queued in the background")
    func stopDrains() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("slow-drain", "held", edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["keep": 100, "log": false]),
            ]))
            let gate = Gates.shared.gate("slow-drain")
            defer { gate.openGate() }
            for index in 1...5 {
                try await runtime.deliver(Message(to: PortAddress(node: "slow-drain", port: "in"), payload: .integer(index)))
            }
            try await eventually("the first message in the handler") { gate.arrived.withLock { $0 } == 1 }
            // The gate is shut: the sync returns while the node still holds its messages.
            let result = await runtime.sync(DesiredNodes(generation: 2, nodes: [definition("sink", "debug", settings: ["keep": 100, "log": false])]))
            #expect(result.nodes.map(\.name) == ["sink"])
            #expect(runtime.report("slow-drain") == nil)
            await #expect(throws: DeliveryError.self) {
                try await runtime.deliver(Message(to: PortAddress(node: "slow-drain", port: "in"), payload: 99))
            }
            gate.openGate()
            try await eventually("the queued messages handled after the sync") { await runtime.debugMessages("sink").count == 5 }
            #expect(await runtime.debugMessages("sink").map(\.payload) == [1, 2, 3, 4, 5])
        }
    }

    @Test("a node whose handler keeps failing is restarted with backoff, and says so")
    func restartsAfterRepeatedFailures() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.failureThreshold = 3
        configuration.initialBackoff = .milliseconds(10)
        try await withRuntime(testModule, configuration: configuration) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("picky", "picky")]))
            for _ in 1...3 {
                try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: ["fail": true]))
            }
            try await eventually("a restart") { runtime.report("picky")?.restarts == 1 }
            try await eventually("running again") { runtime.report("picky")?.phase == .running }
            #expect(runtime.report("picky")?.lastError?.contains("Refused") == true)
            #expect(runtime.counters("picky")?.isBalanced == true)
            // A message handled after the failures: the error no longer explains the node's state.
            try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: ["fail": false]))
            try await eventually("the error cleared by a success") { runtime.report("picky")?.lastError == nil }
        }
    }

    @Test("a node whose component rejects its settings is Failed, and runs again once it takes new ones")
    func rejectedSettings() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("moody", "moody", settings: ["reject": true])]))
            try await eventually("the node failed") { runtime.report("moody")?.phase == .failed }
            #expect(runtime.report("moody")?.lastError?.hasPrefix("settings rejected: ") == true)
            let result = await runtime.sync(DesiredNodes(generation: 2, nodes: [
                definition("moody", "moody", settings: ["reject": false], generation: 2)
            ]))
            #expect(result.nodes.map(\.phase) == [.running])
        }
    }

    @Test("a source whose run fails backs off; new settings run it again at once instead of leaving it BackingOff")
    func newSettingsEndARunBackoff() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.initialBackoff = .seconds(60)
        try await withRuntime(testModule, configuration: configuration) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("moody", "moody", settings: ["failRun": true])]))
            try await eventually("the run failed and backs off") { runtime.report("moody")?.phase == .backingOff }
            #expect(runtime.report("moody")?.restarts == 1)
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [
                definition("moody", "moody", settings: ["failRun": false], generation: 2)
            ]))
            try await eventually("running again", timeout: .seconds(5)) { runtime.report("moody")?.phase == .running }
            #expect(runtime.report("moody")?.restarts == 1)
            // The failed run's error no longer explains the node's state.
            try await eventually("the run's error cleared", timeout: .seconds(5)) { runtime.report("moody")?.lastError == nil }
        }
    }

    @Test("sync is idempotent, ignores stale generations, and rejects invalid nodes without touching others")
    func syncSemantics() async throws {
        try await withRuntime(testModule) { runtime in
            let desired = DesiredNodes(generation: 5, nodes: [
                definition("sink", "debug", settings: ["log": false]),
                definition("bad", "ticker", settings: ["interval": 0], edges: [edge("out", to: "ghost:in")]),
                definition("alien", "teleporter"),
            ])
            let first = await runtime.sync(desired)
            let second = await runtime.sync(desired)
            #expect(first == second)
            #expect(first.nodes.map(\.name) == ["alien", "bad", "sink"])
            #expect(first.nodes.map(\.phase) == [.failed, .failed, .running])
            #expect(first.nodes[0].error?.hasPrefix(#"spec.component: module "test" has no component "teleporter""#) == true)
            #expect(first.nodes[1].error == #"spec.ports[0].configuration.interval: expected integer >= 1, got 0"#)

            let stale = await runtime.sync(DesiredNodes(generation: 4, nodes: []))
            #expect(stale.generation == 5)
            #expect(runtime.report("sink") != nil, "a stale sync stops nothing")
            #expect(await runtime.catalogue().components.map(\.info.name).contains("ticker"))
        }
    }

    @Test("syncs are ordered by the operator's term first: a deposed leader's enormous generation cannot hold the host against the leader of a newer term")
    func termOrdersSyncs() async throws {
        try await withRuntime(testModule) { runtime in
            let sink = definition("sink", "debug", settings: ["log": false])
            _ = await runtime.sync(DesiredNodes(generation: 10, term: 3, nodes: [sink]))
            // The old leader (term 2) — or anyone — sends an outsized generation: ignored.
            let stale = await runtime.sync(DesiredNodes(generation: 9_000_000_000_000_000_000, term: 2, nodes: []))
            #expect(stale.generation == 10)
            #expect(runtime.report("sink") != nil)
            // A sync of the same term with an outsized generation is applied …
            _ = await runtime.sync(DesiredNodes(generation: 9_000_000_000_000_000_000, term: 3, nodes: []))
            #expect(runtime.report("sink") == nil)
            // … and the next leader's sync (term 4) is applied whatever its generation.
            let next = await runtime.sync(DesiredNodes(generation: 11, term: 4, nodes: [sink]))
            #expect(next.generation == 11)
            #expect(next.nodes.map(\.phase) == [.running])
        }
    }
}

@Suite("Edge mappings", .timeLimit(.minutes(2)))
struct EdgeMappingTests {
    @Test("a mapping builds the target's payload from the source message")
    func mappingBuildsPayload() async throws {
        try await withRuntime(testModule) { runtime in
            let mapping: JSONValue = ["url": "{{ $.payload.host }}/api", "count": "{{ $.payload.n + 1 }}", "from": "{{ $.from }}"]
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("pass", "forward", edges: [Edge(id: "m", port: "out", to: "sink:in", mapping: mapping)]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "pass", port: "in"), payload: ["host": "http://h", "n": 41]))
            try await eventually("the mapped message") { await !runtime.debugMessages("sink").isEmpty }
            #expect(await runtime.debugMessages("sink").first?.payload == ["url": "http://h/api", "count": 42, "from": "pass:out"])
        }
    }

    @Test("a mapping that fails at run time sends the error, with its path, to the source's error port")
    func mappingFailureGoesToErrorPort() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("picky", "picky", edges: [
                    Edge(id: "m", port: "out", to: "sink:in", mapping: ["n": "{{ $.payload.name - 1 }}"]),
                    edge("error", to: "errors:in"),
                ]),
                definition("sink", "debug", settings: ["log": false]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: ["name": "Ada"]))
            try await eventually("the mapping error") { await !runtime.debugMessages("errors").isEmpty }
            let error = await runtime.debugMessages("errors").first?.payload["error"]?.stringValue ?? ""
            #expect(error.hasPrefix(#"spec.edges[0].mapping.n: cannot apply "-" to string "Ada" and integer 1"#))
            #expect(runtime.counters("sink")?.received == 0)
        }
    }

    @Test("a mapping that does not compile fails the node at sync with the field path")
    func mappingCompileError() async throws {
        try await withRuntime(testModule) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("pass", "forward", edges: [Edge(id: "m", port: "out", to: "sink:in", mapping: ["url": "{{ $.a + }}"])]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            let failed = try #require(result.nodes.first { $0.name == "pass" })
            #expect(failed.phase == .failed)
            #expect(failed.error?.hasPrefix("spec.edges[0].mapping.url: expected") == true)
        }
    }
}

@Suite("Edges to unknown nodes", .timeLimit(.minutes(2)))
struct MissingTargetTests {
    @Test("an edge to a node the host does not know fails only its sends, to the error port")
    func missingTarget() async throws {
        try await withRuntime(testModule) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("pass", "picky", edges: [edge("out", to: "ghost:in"), edge("error", to: "errors:in")]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            #expect(result.nodes.allSatisfy { $0.phase == .running })
            try await runtime.deliver(Message(to: PortAddress(node: "pass", port: "in"), payload: 1))
            try await eventually("the delivery error") { await !runtime.debugMessages("errors").isEmpty }
            #expect(await runtime.debugMessages("errors").first?.payload["error"] == #"no node "ghost" on this host"#)
        }
    }
}

@Suite("Cancelling a host", .timeLimit(.minutes(2)))
struct CancellationTests {
    @Test("cancelling run() without a graceful shutdown ends it, sources included, instead of restarting them")
    func cancelledRunEnds() async throws {
        let runtime = ModuleRuntime(module: CommonModule.definition, logger: Logger(label: "test"))
        let running = Task { try await runtime.run() }
        _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
            definition("tick", "ticker", settings: ["interval": 5], edges: [edge("out", to: "sink:in")]),
            definition("sink", "debug", settings: ["log": false]),
        ]))
        try await eventually("ticks arrive") { (runtime.counters("sink")?.delivered ?? 0) > 0 }
        running.cancel()
        let ended = Mutex(false)
        let watcher = Task {
            _ = await running.result
            ended.withLock { $0 = true }
        }
        try await eventually("run() returned", timeout: .seconds(10)) { ended.withLock { $0 } }
        watcher.cancel()
    }
}
