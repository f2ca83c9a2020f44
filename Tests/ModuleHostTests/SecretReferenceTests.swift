import CommonComponents
import ComponentKit
import ConfigurationReferences
import Foundation
import Logging
@testable import ModuleHost
import ModuleHostTestSupport
import Synchronization
import TestSupport
import Testing

/// Secrets and ConfigMaps as a test sets them: what a module host's Kubernetes source
/// would have read, and a change signal like a watch event.
final class FakeReferencedValues: ReferencedValueSource {
    private let objects = Mutex<[ReferencedObject: [String: String]]>([:])
    private let trackedObjects = Mutex<Set<ReferencedObject>>([])
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1)) }

    /// Creates, changes (`data`) or deletes (nil) a Secret of namespace `default`, and tells the host.
    func setSecret(_ name: String, _ data: [String: String]?) { set(.secret, name, data) }
    /// Creates, changes or deletes a ConfigMap of namespace `default`, and tells the host.
    func setConfigMap(_ name: String, _ data: [String: String]?) { set(.configMap, name, data) }

    private func set(_ kind: ReferencedObject.Kind, _ name: String, _ data: [String: String]?) {
        objects.withLock { $0[ReferencedObject(kind: kind, namespace: "default", name: name)] = data }
        continuation.yield()
    }

    var tracked: Set<ReferencedObject> { trackedObjects.withLock { $0 } }

    func track(_ objects: Set<ReferencedObject>) async { trackedObjects.withLock { $0 = objects } }
    func state(of object: ReferencedObject) -> ReferencedObjectState {
        objects.withLock { $0[object] }.map { .found($0) } ?? .notFound
    }
    func whenChanged(_ body: @Sendable () async -> Void) async {
        for await _ in stream { await body() }
    }
}

/// Sends its `_settings` on `out` for every message: what the component was given.
struct SettingsEcho: Component {
    @Schema
    struct Settings: Codable, Sendable {
        var password: String = ""
        var url: String = ""
    }
    static let info = ComponentInfo(name: "settings-echo", description: "Sends its settings.")
    static let ports: [PortDefinition] = [
        .settings(Settings.self), .input("in", message: JSONValue.self), .output("out", message: JSONValue.self),
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        try await output.send("out", payload: context.configuration(of: "_settings") ?? .null)
    }
}

/// Keeps what it receives, unredacted, for the test to look at.
struct Recorder: Component {
    static let received = Mutex<[String: [JSONValue]]>([:])
    static let info = ComponentInfo(name: "recorder", description: "Records payloads.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        Self.received.withLock { $0[context.node, default: []].append(message.payload) }
    }
    static func last(_ node: String) -> JSONValue? { received.withLock { $0[node]?.last } }
}

/// Collects log lines (to check they are redacted).
final class CollectedLogs: Sendable {
    let lines = Mutex<[String]>([])
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
    var logger: Logger {
        Logger(label: "test") { _ in CollectingLogHandler(logs: self) }
    }
}

struct CollectingLogHandler: LogHandler {
    let logs: CollectedLogs
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        logs.lines.withLock { $0.append("\(event.message) \(event.metadata ?? [:]) \(metadata) \(event.error.map { "\($0)" } ?? "")") }
    }
}

@Suite("Secret references in a module host", .timeLimit(.minutes(1)))
struct SecretReferenceTests {
    static let module = ModuleDefinition(
        name: "test", version: "1",
        components: [SettingsEcho.self, Recorder.self] + CommonModule.definition.components.values)

    func withSecretRuntime<T: Sendable>(
        _ values: any ReferencedValueSource, logs: CollectedLogs = CollectedLogs(), _ body: (ModuleRuntime) async throws -> T
    ) async throws -> T {
        let runtime = ModuleRuntime(module: Self.module, referencedValues: values, logger: logs.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            defer { group.cancelAll() }
            let result = try await body(runtime)
            await runtime.shutdown()
            return result
        }
    }

    /// echo (settings with references) → recorder and debug.
    func flow(_ name: String, settings: JSONValue, parameters: [String: ParameterValue]? = nil, generation: Int64 = 1) -> DesiredNodes {
        var echo = definition(
            "\(name)-echo", "settings-echo", settings: settings,
            edges: [edge("out", to: "\(name)-recorder:in"), edge("out", to: "\(name)-debug:in", id: "to-debug")],
            generation: generation, flow: "f")
        echo.parameters = parameters
        return DesiredNodes(generation: generation, nodes: [
            echo, definition("\(name)-recorder", "recorder"), definition("\(name)-debug", "debug", settings: ["keep": 10]),
        ])
    }

    func poke(_ runtime: ModuleRuntime, _ node: String) async throws {
        try await runtime.deliver(Message(to: PortAddress(node: node, port: "in"), payload: ["poke": true]))
    }

    @Test("${secret:db/password} reaches the component; debug output, logs and errors show *** instead")
    func secretReachesComponentRedacted() async throws {
        let values = FakeReferencedValues()
        values.setSecret("db", ["password": "hunter2-s3cret"])
        let logs = CollectedLogs()
        try await withSecretRuntime(values, logs: logs) { runtime in
            let result = await runtime.sync(flow("a", settings: ["password": "${secret:db/password}", "url": "pg://app:${secret:db/password}@db"]))
            #expect(result.nodes.allSatisfy { $0.phase == .running }, "\(result)")
            #expect(values.tracked == [ReferencedObject(kind: .secret, namespace: "default", name: "db")])
            try await poke(runtime, "a-echo")
            try await eventually("the recorder got the settings") { Recorder.last("a-recorder") != nil }
            #expect(Recorder.last("a-recorder") == ["password": "hunter2-s3cret", "url": "pg://app:hunter2-s3cret@db"])
            try await eventually("the debug node kept the message") { await !runtime.debugMessages("a-debug").isEmpty }
            let shown = await runtime.debugMessages("a-debug")
            #expect(shown.first?.payload == ["password": "***", "url": "pg://app:***@db"])
            // What the runtime logs goes through the redaction too.
            runtime.logger.error("connecting with hunter2-s3cret", metadata: ["url": "pg://app:hunter2-s3cret@db"])
            #expect(logs.text.contains("connecting with ***"))
            #expect(!logs.text.contains("hunter2-s3cret"))
        }
    }

    @Test("a rotated Secret reconfigures the nodes that use it, and the old value stays redacted")
    func rotation() async throws {
        let values = FakeReferencedValues()
        values.setSecret("db", ["password": "first-password"])
        try await withSecretRuntime(values) { runtime in
            _ = await runtime.sync(flow("b", settings: ["password": "${secret:db/password}"]))
            values.setSecret("db", ["password": "second-password"])
            try await eventually("the node uses the new value") {
                try await poke(runtime, "b-echo")
                return Recorder.last("b-recorder")?["password"] == "second-password"
            }
            #expect(runtime.redaction.redact("first-password second-password") == "*** ***")
            #expect(runtime.report("b-echo")?.phase == .running)
        }
    }

    @Test("a missing Secret or key fails the node with SecretNotFound naming both; creating it starts the node")
    func missingSecret() async throws {
        let values = FakeReferencedValues()
        values.setSecret("db", ["user": "app"])
        try await withSecretRuntime(values) { runtime in
            let result = await runtime.sync(flow("c", settings: ["password": "${secret:db/password}"]))
            let failed = try #require(result.nodes.first { $0.name == "c-echo" })
            #expect(failed.phase == .failed)
            #expect(failed.reason == NodeRejection.secretNotFound)
            #expect(failed.error?.contains("spec.ports[0].configuration.password") == true)
            #expect(failed.error?.contains("Secret \"db\"") == true && failed.error?.contains("key \"password\"") == true)
            #expect(result.nodes.filter { $0.name != "c-echo" }.allSatisfy { $0.phase == .running })
            // Reported as failed too, so the operator learns when it changes.
            #expect(runtime.report("c-echo")?.reason == NodeRejection.secretNotFound)

            values.setSecret("db", ["password": "now-there"])
            try await eventually("the node runs once its key exists") { runtime.report("c-echo")?.phase == .running }
            try await poke(runtime, "c-echo")
            try await eventually("with the value") { Recorder.last("c-recorder")?["password"] == "now-there" }

            values.setSecret("db", nil)
            try await eventually("a deleted Secret fails it again") { runtime.report("c-echo")?.reason == NodeRejection.secretNotFound }
            #expect(runtime.report("c-echo")?.lastError?.contains("not found") == true)
        }
    }

    @Test("parameters: literal values keep their type; valueFrom reads a Secret or a ConfigMap")
    func parameters() async throws {
        let values = FakeReferencedValues()
        values.setSecret("db", ["password": "param-secret"])
        values.setConfigMap("app", ["url": "https://example.org"])
        try await withSecretRuntime(values) { runtime in
            let desired = flow(
                "d", settings: ["password": "${param:password}", "url": "${param:base}/api?user=${param:user}"],
                parameters: [
                    "password": .secretKeyRef(ObjectKeyReference(name: "db", key: "password")),
                    "base": .configMapKeyRef(ObjectKeyReference(name: "app", key: "url")),
                    "user": .value("bob"),
                ])
            let result = await runtime.sync(desired)
            #expect(result.nodes.allSatisfy { $0.phase == .running }, "\(result)")
            try await poke(runtime, "d-echo")
            try await eventually("the recorder got the settings") { Recorder.last("d-recorder") != nil }
            #expect(Recorder.last("d-recorder") == ["password": "param-secret", "url": "https://example.org/api?user=bob"])
            // A Secret's value through a parameter is redacted too; a ConfigMap's is not a secret.
            try await eventually("the debug node kept the message") { await !runtime.debugMessages("d-debug").isEmpty }
            #expect(await runtime.debugMessages("d-debug").first?.payload == ["password": "***", "url": "https://example.org/api?user=bob"])

            // An unknown parameter fails the node, naming it.
            let unknown = await runtime.sync(flow("d", settings: ["password": "${param:nope}"], parameters: [:], generation: 2))
            let failed = try #require(unknown.nodes.first { $0.name == "d-echo" })
            #expect(failed.reason == NodeRejection.invalidReference)
            #expect(failed.error?.contains("flow \"f\" has no parameter \"nope\"") == true)
        }
    }

    @Test("$${ escapes and {{ }} expressions reach the component untouched")
    func escapes() async throws {
        try await withSecretRuntime(FakeReferencedValues()) { runtime in
            let result = await runtime.sync(flow("e", settings: ["password": "$${secret:db/password}", "url": "{{ $.payload }}"]))
            #expect(result.nodes.allSatisfy { $0.phase == .running }, "\(result)")
            try await poke(runtime, "e-echo")
            try await eventually("the recorder got the settings") { Recorder.last("e-recorder") != nil }
            #expect(Recorder.last("e-recorder") == ["password": "${secret:db/password}", "url": "{{ $.payload }}"])
        }
    }

    @Test("without a Kubernetes API a reference fails the node and says why")
    func noAPI() async throws {
        try await withSecretRuntime(NoReferencedValues()) { runtime in
            let result = await runtime.sync(flow("g", settings: ["password": "${secret:db/password}"]))
            let failed = try #require(result.nodes.first { $0.name == "g-echo" })
            #expect(failed.reason == NodeRejection.secretNotFound)
            #expect(failed.error?.contains("no Kubernetes API") == true)
        }
    }
}
