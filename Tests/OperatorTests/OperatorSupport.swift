import CRDModels
import CommonComponents
import ComponentKit
import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import Logging
import ModuleHost
import Operator
import Synchronization
import TestSupport
import Testing

/// Everything an operator test needs: an API server with the CRDs, an
/// in-process module host for module "common" at "common:0", and a running operator.
struct OperatorHarness: Sendable {
    /// An administrator client (not permission-checked).
    var client: KubernetesClient
    /// The in-process host of module "common".
    var runtime: ModuleRuntime
    /// The operator under test.
    var tinyflowOperator: TinyflowOperator
    /// The namespace the tests use.
    var namespace = "default"

    var nodes: Api<TinyNode> { client.api(TinyNode.self, namespace: namespace) }
    var flows: Api<TinyFlow> { client.api(TinyFlow.self, namespace: namespace) }
    var signals: Api<TinySignal> { client.api(TinySignal.self, namespace: namespace) }
    var modules: Api<TinyModule> { client.api(TinyModule.self, namespace: namespace) }

    /// Whether node `name`'s condition `type` is `status`.
    func condition(_ name: String, _ type: String) async throws -> Condition? {
        try await nodes.getOptional(name)?.status?.conditions[type: type]
    }

    /// Waits until every named node is Ready.
    func waitUntilReady(_ names: [String], timeout: Duration = .seconds(15)) async throws {
        for name in names {
            try await eventually("\(name) Ready", timeout: timeout) {
                try await condition(name, TinyNodeCondition.ready)?.status == .true
            }
        }
    }

    /// The payloads the debug node `name` kept.
    func debugPayloads(_ name: String) async -> [JSONValue] {
        (await runtime.recentMessages(node: name) ?? []).map(\.payload)
    }
}

/// Runs `body` with an embedded control plane, the CRDs, the "common" module
/// host and an operator on them; tears everything down afterwards.
func withOperator(
    namespaces: [String]? = ["default"], leaderElection: Bool = false, syncWindow: Duration = .milliseconds(20),
    revisionSettleTime: Duration = .milliseconds(300), debugAddress: String? = nil,
    hosts wrap: @Sendable (any ModuleHostConnector) -> any ModuleHostConnector = { $0 },
    _ body: (OperatorHarness) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-operator-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var quiet = Logger(label: "tinyflow.test")
    quiet.logLevel = ProcessInfo.processInfo.environment["TINYFLOW_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    let logger = quiet
    try await EmbeddedControlPlane.withRunning(dataDirectory: directory, configure: { $0.durability = .processCrash; $0.logger = logger }) {
        plane in
        let client = try KubernetesClient(
            configuration: ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token)))
        defer { Task { try? await client.shutdown() } }
        for crd in allCustomResourceDefinitions {
            _ = try await client.api(CustomResourceDefinition.self).create(crd)
        }
        try await eventually("the Tinyflow kinds served", timeout: .seconds(5)) {
            let nodes = try? await client.api(TinyNode.self).list()
            let modules = try? await client.api(TinyModule.self).list()
            let flows = try? await client.api(TinyFlow.self).list()
            let signals = try? await client.api(TinySignal.self).list()
            return nodes != nil && modules != nil && flows != nil && signals != nil
        }
        let runtime = ModuleRuntime(module: CommonModule.definition, logger: logger)
        _ = try await client.api(TinyModule.self, namespace: "default").create(
            TinyModule(metadata: ObjectMeta(name: "common"), spec: TinyModuleSpec(image: "tinyflow/common", address: "common:0")))
        let configuration = OperatorConfiguration(
            namespaces: namespaces, leaderElection: leaderElection, leaseNamespace: "default", identity: "test-operator",
            statusInterval: .milliseconds(300), moduleResyncInterval: .seconds(2), syncWindow: syncWindow,
            watchInterval: .milliseconds(50), revisionSettleTime: revisionSettleTime, debugAddress: debugAddress)
        let tinyflowOperator = try TinyflowOperator(
            client: client, configuration: configuration, hosts: wrap(LocalModuleHostConnector(hosts: ["common:0": runtime])),
            logger: logger)
        let harness = OperatorHarness(client: client, runtime: runtime, tinyflowOperator: tinyflowOperator)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            group.addTask { try await tinyflowOperator.run() }
            do {
                try await body(harness)
            } catch {
                logger.warning("test body failed: \(error)")
                group.cancelAll()
                await runtime.shutdown()
                throw error
            }
            logger.info("test body done; stopping")
            group.cancelAll()
            await runtime.shutdown()
        }
    }
}

/// A TinyNode of module "common" with `_settings`, edges and the flow label.
func node(
    _ name: String, _ component: String, settings: JSONValue, edges: [Edge] = [], flow: String? = nil,
    annotations: [String: String]? = nil
) -> TinyNode {
    TinyNode(
        metadata: ObjectMeta(name: name, labels: flow.map { [TinyflowOperator.flowLabel: $0] }, annotations: annotations),
        spec: TinyNodeSpec(
            module: "common", component: component, ports: [PortConfiguration(port: "_settings", configuration: settings)],
            edges: edges, flow: flow))
}

/// The hello flow: a ticker every 20 ms sending `greeting` to a debug node.
func helloFlow(greeting: String = "hello") -> [TinyNode] {
    [
        node(
            "hello-ticker", "ticker", settings: ["interval": 20, "payload": ["greeting": .string(greeting)]],
            edges: [Edge(id: "to-debug", port: "out", to: "hello-debug:in")], flow: "hello"),
        node("hello-debug", "debug", settings: ["keep": 50, "log": false], flow: "hello"),
    ]
}

/// The greeting of the latest tick a debug node kept.
func latestGreeting(_ payloads: [JSONValue]) -> String? {
    guard case .object(let tick)? = payloads.last, case .object(let payload)? = tick["payload"],
        case .string(let greeting)? = payload["greeting"]
    else { return nil }
    return greeting
}

/// Counts and records the generations of the `SyncNodes` calls that pass through.
final class SyncRecorder: ModuleHostConnector {
    let base: any ModuleHostConnector
    private let generations = Mutex<[Int64]>([])

    init(_ base: any ModuleHostConnector) { self.base = base }

    /// The generations sent, in order.
    var sent: [Int64] { generations.withLock { $0 } }

    func connection(to address: String) async throws -> any ModuleHostConnection {
        Recording(base: try await base.connection(to: address), recorder: self)
    }

    func shutdown() async { await base.shutdown() }

    fileprivate func record(_ generation: Int64) { generations.withLock { $0.append(generation) } }

    private struct Recording: ModuleHostConnection {
        let base: any ModuleHostConnection
        let recorder: SyncRecorder

        func catalogue() async throws -> ModuleCatalogue { try await base.catalogue() }
        func sync(_ desired: DesiredNodes) async throws -> SyncResult {
            recorder.record(desired.generation)
            return try await base.sync(desired)
        }
        func watchStatus(interval: Duration, _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
            try await base.watchStatus(interval: interval, body)
        }
        func recentMessages(node: String) async throws -> [Message]? { try await base.recentMessages(node: node) }
        func deliver(_ message: Message) async throws { try await base.deliver(message) }
        func context(_ request: ContextRequest) async throws -> ContextResponse { try await base.context(request) }
        func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse { try await base.deadLetters(request) }
    }
}
