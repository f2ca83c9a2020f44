import AsyncPrimitives
import Backoff
import CommonComponents
import ComponentKit
import Foundation
import Logging
import ModuleHostTestSupport
import Synchronization
import TestSupport
import Testing

@testable import ModuleHost

/// Runs a runtime with `configuration` until `body` returns; `body` shuts it down itself
/// (and sees what the shutdown reports).
private func withRuntimeShutDownBy<T: Sendable>(
    configuration: ModuleRuntime.Configuration, _ body: (ModuleRuntime) async throws -> T
) async throws -> T {
    let runtime = ModuleRuntime(module: testModule, configuration: configuration, logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runtime.run() }
        defer { group.cancelAll() }
        return try await body(runtime)
    }
}

/// Whether every stop the runtime began is over.
private func stopsAreOver(_ runtime: ModuleRuntime) -> Bool { runtime.stoppingNodes.withLock { $0.isEmpty } }

@Suite("Stopping nodes (issue 14)", .timeLimit(.minutes(1)))
struct NodeStopTests {
    @Test("a node not done by its stop timeout has its handler cancelled; what it had not handled is dropped, and the books balance")
    func stopTimeoutDrops() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.stopTimeout = .milliseconds(200)
        let reports = try await withRuntimeShutDownBy(configuration: configuration) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("stuck", "stuck")]))
            for index in 1...5 {
                try await runtime.deliver(Message(to: PortAddress(node: "stuck", port: "in"), payload: .integer(index)))
            }
            try await eventually("five messages in") { runtime.counters("stuck")?.received == 5 }
            // Each would take an hour: the shutdown ends at the stop timeout instead.
            return await runtime.shutdown()
        }
        let counters = try #require(reports.first { $0.name == "stuck" }?.counters)
        #expect(counters.received == 5)
        #expect(counters.errored == 1, "the message in the handler, cancelled")
        #expect(counters.dropped == 4, "the ones it had not begun")
        #expect(counters.delivered == 0)
        #expect(counters.isBalanced)
    }

    @Test("removing a node does not wait for its stop; once its stop timeout passes, each message it did not handle is reported to its error port")
    func droppedMessagesReachTheErrorPort() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.stopTimeout = .milliseconds(500)
        try await withRuntime(testModule, configuration: configuration) { runtime in
            let errors = definition("errors", "debug", settings: ["keep": 100, "log": false])
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("stuck", "stuck", edges: [edge("error", to: "errors:in")]), errors,
            ]))
            for index in 1...3 {
                try await runtime.deliver(Message(to: PortAddress(node: "stuck", port: "in"), payload: .integer(index)))
            }
            try await eventually("three messages in") { runtime.counters("stuck")?.received == 3 }
            let result = await runtime.sync(DesiredNodes(generation: 2, nodes: [errors]))
            #expect(result.nodes.map(\.name) == ["errors"])
            #expect(!stopsAreOver(runtime), "the sync returned before the node's stop was over")

            try await eventually("three reports on the error port") { await runtime.debugMessages("errors").count == 3 }
            let reports = await runtime.debugMessages("errors").map(\.payload)
            #expect(reports.allSatisfy { $0["node"] == "stuck" && $0["port"] == "in" })
            #expect(reports.filter { $0["errorType"] == "CancellationError" }.count == 1, "the one in the handler")
            let dropped = reports.filter { $0["error"]?.stringValue?.contains("stop timeout") == true }
            #expect(dropped.count == 2, "\(reports)")
            #expect(dropped.allSatisfy { $0["errorType"] == "DeliveryError" })
            try await eventually("the stop over") { stopsAreOver(runtime) }
        }
    }

    @Test("a stop request ends a restart backoff at once: the node drains with a fresh instance instead of waiting it out")
    func stopEndsRestartBackoff() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.failureThreshold = 3
        configuration.initialBackoff = .seconds(60)
        configuration.maxBackoff = .seconds(60)
        configuration.stopTimeout = .seconds(60)
        try await withRuntime(testModule, configuration: configuration) { runtime in
            let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("picky", "picky", edges: [edge("out", to: "sink:in")]), sink,
            ]))
            for _ in 1...3 {
                try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: ["fail": true]))
            }
            try await eventually("backing off for a minute") { runtime.report("picky")?.phase == .backingOff }
            for index in 1...2 {
                try await runtime.deliver(Message(to: PortAddress(node: "picky", port: "in"), payload: ["fail": false, "n": .integer(index)]))
            }
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [sink]))
            // Neither the backoff (60 s) nor the stop timeout (60 s) is waited out.
            try await eventually("the stop over", timeout: .seconds(10)) { stopsAreOver(runtime) }
            #expect(await runtime.debugMessages("sink").compactMap { $0.payload["n"]?.intValue } == [1, 2])
        }
    }

    @Test("a retry's wait ends at a stop request, and the failure stands: reported, not retried")
    func stopEndsRetryWait() async throws {
        var configuration = ModuleRuntime.Configuration()
        configuration.stopTimeout = .seconds(60)
        try await withRuntime(testModule, configuration: configuration) { runtime in
            let retry = RetryPolicy(maxAttempts: 10, initialDelay: "60s", maxDelay: "60s")
            let kept = [
                definition("in", "forward", edges: [edge("out", to: "flaky:in", retry: retry)]),
                definition("errors", "debug", settings: ["keep": 100, "log": false]),
            ]
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: kept + [
                definition("flaky", "flaky", settings: ["failures": 100], edges: [edge("error", to: "errors:in")]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "in", port: "in"), payload: "x"))
            try await eventually("the first attempt failed") { runtime.counters("flaky")?.received == 1 }
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: kept))
            try await eventually("the stop over", timeout: .seconds(10)) { stopsAreOver(runtime) }
            try await eventually("the failure reported") { await runtime.debugMessages("errors").count == 1 }
            #expect(await runtime.debugMessages("errors").first?.payload["errorType"] == "Transient")
        }
    }

    @Test("a node replaced on its host (another component) keeps its run of counters: they go on from the old instance's")
    func replacedNodeCountsOn() async throws {
        try await withRuntime(testModule) { runtime in
            let sink = definition("sink", "debug", settings: ["keep": 100, "log": false])
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [definition("n", "forward", edges: [edge("out", to: "sink:in")]), sink]))
            for index in 1...3 {
                try await runtime.deliver(Message(to: PortAddress(node: "n", port: "in"), payload: ["n": .integer(index)]))
            }
            try await eventually("three handled") { runtime.counters("n")?.delivered == 3 }
            let run = try #require(runtime.report("n")?.run)
            #expect(runtime.report("sink")?.run != run, "each node has a run of its own")

            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [
                definition("n", "picky", edges: [edge("out", to: "sink:in")], generation: 2), sink,
            ]))
            for index in 4...5 {
                try await runtime.deliver(Message(to: PortAddress(node: "n", port: "in"), payload: ["n": .integer(index)]))
            }
            try await eventually("five handled, over both instances") { runtime.counters("n")?.delivered == 5 }
            #expect(runtime.report("n")?.run == run)
            #expect(runtime.counters("n")?.received == 5)
            #expect(runtime.counters("n")?.sent == 5)
        }
    }

    @Test("restarts after repeated handler failures wait longer each time, and from the first delay again after a healthy run")
    func handlerRestartBackoffResets() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(30), jitter: 0, resetAfter: .seconds(10))
        let node = NodeInstance(
            definition: NodeDefinition(name: "n", component: "forward"), componentType: Forward.self,
            context: NodeContext(node: "n", logger: Logger(label: "test")), channelCapacity: 1, restartBackoff: backoff,
            statusChanges: ChangeNotifier())
        let start = ContinuousClock.now
        var delays: [Duration] = []
        for second in 1...3 {
            delays.append(node.handlerRestartDelay(now: start + .seconds(second)))
            node.handlerRestarted(now: start + .seconds(second))
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
        // Healthy for the backoff's resetAfter since the last restart: the first delay again.
        #expect(node.handlerRestartDelay(now: start + .seconds(3 + 10)) == .milliseconds(100))
    }
}
