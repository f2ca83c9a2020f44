import AsyncPrimitives
import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import MessageStoreAPI
import ModuleHost
import Synchronization

/// A control whose answers are fixed and which records what it was asked.
final class FakeControl: ModuleHostControl {
    let syncs = Mutex<[DesiredNodes]>([])
    let watchIntervals = Mutex<[Duration]>([])
    let reports: [NodeStatusReport]
    let recent: [String: [Message]]
    let contextRequests = Mutex<[ContextRequest]>([])
    let deadLetterRequests = Mutex<[DeadLetterRequest]>([])
    /// What `list` answers.
    let deadLetters: [DeadLetter]

    init(reports: [NodeStatusReport] = [], recent: [String: [Message]] = [:], deadLetters: [DeadLetter] = []) {
        self.reports = reports
        self.recent = recent
        self.deadLetters = deadLetters
    }

    func catalogue() async -> ModuleCatalogue {
        ModuleCatalogue(module: "common", version: "1.2.3", components: [])
    }

    /// Records the request; the key `down` fails as an unreachable store would, others echo.
    func context(_ request: ContextRequest) async throws -> ContextResponse {
        contextRequests.withLock { $0.append(request) }
        if request.key == "down" { throw ContextStoreError.unavailable(store: "fake", reason: "the database is down") }
        return ContextResponse(value: .string("\(request.scope) \(request.key ?? "")"))
    }

    /// Records the request; the namespace `memory` answers as a host without a message store,
    /// `down` as an unreachable store; `list` answers ``deadLetters``, the others count the ids.
    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        deadLetterRequests.withLock { $0.append(request) }
        switch request.namespace {
        case "memory": throw DeadLetterAccessError.noMessageStore
        case "down": throw MessageStoreError.unavailable(store: "fake", reason: "the database is down")
        default: break
        }
        try request.validate()
        if request.operation == .list { return DeadLetterResponse(deadLetters: Array(deadLetters.prefix(request.effectiveLimit))) }
        return DeadLetterResponse(count: request.ids?.count ?? 0)
    }

    func sync(_ desired: DesiredNodes) async -> SyncResult {
        syncs.withLock { $0.append(desired) }
        return SyncResult(
            generation: desired.generation,
            nodes: desired.nodes.map { NodeSyncResult(name: $0.name, phase: .running) })
    }

    /// Reports every `interval`, numbering the rounds in `restarts`.
    func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        watchIntervals.withLock { $0.append(interval) }
        var round = 0
        while true {
            try await body(reports.map { report in
                var report = report
                report.restarts = round
                return report
            })
            round += 1
            try await Task.sleep(for: interval)
        }
    }

    func recentMessages(node: String) async -> [Message]? { recent[node] }
}

/// A sink that records what it receives; optionally every delivery waits for `gate`.
final class RecordingSink: MessageSink {
    let received = Mutex<[Message]>([])
    let gate: OneShotEvent?

    init(gate: OneShotEvent? = nil) { self.gate = gate }

    var count: Int { received.withLock { $0.count } }

    func deliver(_ message: Message) async throws {
        received.withLock { $0.append(message) }
        if let gate { await gate.wait() }
        try Task.checkCancellation()
    }

    func request(_ message: Message) async throws -> JSONValue {
        received.withLock { $0.append(message) }
        if let gate { await gate.wait() }
        if message.payload["fail"] != nil { throw ReplyFailure() }
        return ["echo": message.payload]
    }
}

struct ReplyFailure: Error, CustomStringConvertible {
    var description: String { "the chain failed" }
}

struct TimedOut: Error {}

/// Runs `body`, throwing ``TimedOut`` if it takes longer than `limit`.
func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut() }
        return value
    }
}

/// Serves `control` and `sink` on loopback while `body` runs.
func withServer<R: Sendable>(
    port: Int = 0, tls: MutualTLSConfiguration? = nil, control: any ModuleHostControl = FakeControl(),
    sink: any MessageSink, _ body: (ModuleHostServer, Int) async throws -> R
) async throws -> R {
    let server = ModuleHostServer(host: "127.0.0.1", port: port, tls: tls, control: control, sink: sink, gracePeriod: .seconds(1))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        defer { server.beginGracefulShutdown() }
        let bound = try await server.boundPort
        return try await body(server, bound)
    }
}

/// A message from `sender` with `payload`.
func message(from sender: String, _ payload: JSONValue, deadline: Date? = nil) -> Message {
    Message(
        from: PortAddress(node: sender, port: "out"), to: PortAddress(node: "target", port: "in"), payload: payload,
        deadline: deadline, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
}

/// A value shared between tasks.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { storage.withLock(body) }
    var value: Value { storage.withLock { $0 } }
}
