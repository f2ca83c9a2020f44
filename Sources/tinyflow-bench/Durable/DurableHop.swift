import CRDModels
import ComponentKit
import ContextStoreAPI
import ContextStoreMemory
import ContextStores
import Foundation
import Logging
import MessageStoreAPI
import ModuleHost
import ModuleHostAPI
import ServiceLifecycle
import Synchronization

/// A context store and the message store sharing its database, opened as a module host opens
/// them (``OpenedContextStore``), with their services running.
struct DurableStores: Sendable {
    var context: any ContextStore
    var messages: any MessageStore

    /// Opens `location`, runs its services (PostgreSQL's pool and `LISTEN`, SQLite's doorbell)
    /// for the duration of `body`, then closes everything.
    static func with<T: Sendable>(
        _ location: ContextStoreLocation, _ body: (DurableStores) async throws -> T
    ) async throws -> T {
        let logger = Logger(label: "tinyflow-bench.durable") { _ in SwiftLogNoOpLogHandler() }
        let opened = try OpenedContextStore.open(location, logger: logger)
        guard let messages = opened.messageStore else {
            throw DurableBenchError("\(location) has no message store")
        }
        let stores = DurableStores(context: opened.store, messages: messages)
        let group = ServiceGroup(services: opened.services, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do { result = .success(try await body(stores)) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            await messages.close()
            await opened.store.close()
            return try result.get()
        }
    }
}

/// The in-module hop: one ``ModuleRuntime``, a ``DurableBenchSource`` node sending to a
/// ``DurableBenchSink`` node on one edge, durable (through the message store) or in memory.
enum DurableHop {
    /// Run names are unique in the process: each run has nodes (and so a durable queue) of its own.
    private static let runs = Atomic<Int>(0)

    static func nextRunName() -> String {
        "r\(runs.wrappingAdd(1, ordering: .relaxed).newValue)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// One run: `messages` messages from `senders` tasks (paced at `rate` msgs/s if positive),
    /// stopping after `timeLimit`; the sink's measurement, or `nil` if nothing arrived.
    static func run(
        stores: DurableStores?, delivery: EdgeDelivery, messages: Int, senders: Int, rate: Double, timeLimit: Duration
    ) async throws -> DurableRunResult {
        if delivery == .durable, stores == nil { throw DurableBenchError("a durable hop needs a message store") }
        let logger = Logger(label: "tinyflow-bench.durable") { _ in SwiftLogNoOpLogHandler() }
        let runtime = ModuleRuntime(
            module: DurableBenchModule.definition, contextStore: stores?.context ?? MemoryContextStore(),
            messageStore: stores?.messages, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            let outcome: Result<DurableRunResult, any Error>
            do {
                outcome = .success(
                    try await measure(
                        runtime: runtime, delivery: delivery, messages: messages, senders: senders, rate: rate,
                        timeLimit: timeLimit))
            } catch {
                outcome = .failure(error)
            }
            await runtime.shutdown()
            try await group.waitForAll()
            return try outcome.get()
        }
    }

    private static func measure(
        runtime: ModuleRuntime, delivery: EdgeDelivery, messages: Int, senders: Int, rate: Double, timeLimit: Duration
    ) async throws -> DurableRunResult {
        let run = nextRunName()
        let stopAt = systemMonotonicNanoseconds() + nanoseconds(timeLimit)
        let nodes = DurableBenchNodes(
            run: run, delivery: delivery, messages: messages, senders: senders, rate: rate, stopAt: stopAt, report: nil)
        let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [nodes.sink, nodes.source]))
        let failed = result.nodes.filter { $0.phase != .running }
        guard failed.isEmpty else {
            throw DurableBenchError("nodes not running: \(failed.map { "\($0.name): \($0.error ?? "\($0.phase)")" })")
        }
        guard let measured = await DurableRunRegistry.shared.result(of: run, waitingUntil: stopAt + 5_000_000_000) else {
            throw DurableBenchError("no message of run \(run) arrived within the time limit")
        }
        return measured
    }
}

/// The two nodes of one run: `source-<run>` → `sink-<run>:in`.
struct DurableBenchNodes {
    var source: NodeDefinition
    var sink: NodeDefinition

    init(run: String, delivery: EdgeDelivery, messages: Int, senders: Int, rate: Double, stopAt: Int, report: String?) {
        let sinkName = "sink-\(run)"
        source = NodeDefinition(
            name: "source-\(run)", component: DurableBenchSource.info.name,
            ports: [
                PortConfiguration(
                    port: "_settings",
                    configuration: [
                        "messages": .integer(messages), "senders": .integer(senders), "rate": .number(rate),
                        "stopAt": .integer(stopAt),
                    ])
            ],
            edges: [Edge(id: "hop", port: "out", to: "\(sinkName):in", delivery: delivery)])
        sink = NodeDefinition(
            name: sinkName, component: DurableBenchSink.info.name,
            ports: [
                PortConfiguration(
                    port: "_settings",
                    configuration: [
                        "run": .string(run), "expect": .integer(messages), "stopAt": .integer(stopAt),
                        "report": .string(report ?? ""),
                    ])
            ],
            durableInputs: delivery == .durable ? ["in"] : nil)
    }
}

/// `duration` in whole nanoseconds.
func nanoseconds(_ duration: Duration) -> Int {
    Int(duration.components.seconds) * 1_000_000_000 + Int(duration.components.attoseconds / 1_000_000_000)
}

/// Why a durable figure could not be measured.
struct DurableBenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
