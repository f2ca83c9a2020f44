import CommonComponents
import ComponentKit
import ContextStoreAPI
import Foundation
import Logging
import ModuleHost
import Synchronization

/// Fails on messages whose payload has `"fail": true`, else passes them on.
struct Picky: Component {
    struct Refused: Error {}
    static let info = ComponentInfo(name: "picky", description: "Fails on demand.")
    static let ports: [PortDefinition] = [
        .input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error,
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        if message.payload["fail"] == true { throw Refused() }
        try await output.send("out", message)
    }
}

/// Fails each message `failures` times (from its settings), then passes it on; with
/// `outage`, the failures say its context store is unavailable.
actor Flaky: Component {
    struct Transient: Error {}
    struct Fatal: Error {}
    @Schema
    struct Settings: Codable, Sendable {
        var failures: Int = 1
        var fatal: Bool = false
        var outage: Bool = false
    }
    static let info = ComponentInfo(name: "flaky", description: "Fails a few times per message.")
    static let ports: [PortDefinition] = [
        .settings(Settings.self), .input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error,
    ]
    private var attempts: [String: Int] = [:]
    init() {}
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        attempts[message.id, default: 0] += 1
        if settings.fatal { throw Fatal() }
        if attempts[message.id, default: 0] <= settings.failures {
            if settings.outage { throw ContextStoreError.unavailable(store: "test", reason: "down for a moment") }
            throw Transient()
        }
        try await output.send("out", message)
    }
}

/// Holds every message until the test opens its gate (a slow consumer).
struct Held: Component {
    static let info = ComponentInfo(name: "held", description: "Waits for the test before handling.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self), .output("out", message: JSONValue.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        await Gates.shared.gate(context.node).pass()
        try await output.send("out", message)
    }
}

/// Handles nothing in time: waits an hour per message, until cancelled.
struct Stuck: Component {
    static let info = ComponentInfo(name: "stuck", description: "Waits an hour per message.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        try await Task.sleep(for: .seconds(3600))
        try await output.send("out", message)
    }
}

/// Passes messages on unchanged.
struct Forward: Component {
    static let info = ComponentInfo(name: "forward", description: "Passes messages on.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self), .output("out", message: JSONValue.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        try await output.send("out", Message(payload: message.payload))
    }
}

/// Asks its `ask` port and sends the reply on `out`.
struct Requester: Component {
    static let info = ComponentInfo(name: "requester", description: "Requests and forwards the reply.")
    static let ports: [PortDefinition] = [
        .input("in", message: JSONValue.self), .output("ask", message: JSONValue.self),
        .output("out", message: JSONValue.self), .error,
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let answer = try await output.request("ask", Message(payload: message.payload, deadline: message.deadline))
        try await output.send("out", Message(payload: answer))
    }
}

/// Replies `{"echo": payload}` to requests; drops payloads that say `"silent": true`.
struct Responder: Component {
    static let info = ComponentInfo(name: "responder", description: "Answers requests.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        if message.payload["silent"] == true { return }
        try await output.reply(["echo": message.payload])
    }
}

/// A source that rejects its settings or fails its `run` when its settings say so; else it runs until cancelled.
struct Moody: RunningComponent {
    struct Rejected: Error {}
    struct Broken: Error {}
    @Schema
    struct Settings: Codable, Sendable {
        var reject: Bool = false
        var failRun: Bool = false
    }
    static let info = ComponentInfo(name: "moody", description: "Rejects settings or fails on demand.")
    static let ports: [PortDefinition] = [.settings(Settings.self), .output("out", message: JSONValue.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let settings: Settings = try message.decode()
        if settings.reject { throw Rejected() }
    }
    func run(context: NodeContext, output: any Output) async throws {
        let settings: Settings = try context.settings()
        if settings.failRun { throw Broken() }
        try await Task.sleep(for: .seconds(3600))
    }
}

/// A gate a test opens to let held messages through.
final class Gate: Sendable {
    private let open = Mutex(false)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    let arrived = Mutex(0)

    func pass() async {
        arrived.withLock { $0 += 1 }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = open.withLock { $0 }
            if isOpen { continuation.resume(); return }
            waiters.withLock { $0.append(continuation) }
            if open.withLock({ $0 }) {
                let pending = waiters.withLock { list -> [CheckedContinuation<Void, Never>] in defer { list = [] }; return list }
                pending.forEach { $0.resume() }
            }
        }
    }

    func openGate() {
        open.withLock { $0 = true }
        let pending = waiters.withLock { list -> [CheckedContinuation<Void, Never>] in defer { list = [] }; return list }
        pending.forEach { $0.resume() }
    }
}

/// Gates by node name, shared by the `held` nodes of a test.
final class Gates: Sendable {
    static let shared = Gates()
    private let gates = Mutex<[String: Gate]>([:])
    func gate(_ node: String) -> Gate {
        gates.withLock { gates in
            if let gate = gates[node] { return gate }
            let gate = Gate()
            gates[node] = gate
            return gate
        }
    }
}

let testModule = ModuleDefinition(
    name: "test", version: "1",
    components: [Picky.self, Flaky.self, Held.self, Stuck.self, Forward.self, Requester.self, Responder.self, Moody.self] + CommonModule.definition.components.values)


