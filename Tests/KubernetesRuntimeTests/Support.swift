import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import Logging
import Synchronization
import CRDModels
import KubernetesRuntime
import TestSupport
import Testing
/// Installs the TinyNode CRD and waits until it is served.
func installTinyNodeCRD(_ client: KubernetesClient) async throws {
    _ = try await client.api(CustomResourceDefinition.self).create(TinyNode.customResourceDefinition)
    try await eventually("TinyNodes served", timeout: .seconds(5)) {
        (try? await client.api(TinyNode.self).list()) != nil
    }
}

func tinyNode(_ name: String, module: String = "common", component: String = "ticker") -> TinyNode {
    TinyNode(metadata: ObjectMeta(name: name), spec: TinyNodeSpec(module: module, component: component))
}

/// A watcher configuration that reconnects quickly.
func fastWatcher() -> WatcherConfiguration {
    var configuration = WatcherConfiguration()
    configuration.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
    configuration.watchTimeoutSeconds = 30
    return configuration
}

/// Runs `service` for the duration of `body`, then cancels it.
func withService<T: Sendable>(_ run: @escaping @Sendable () async throws -> Void, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await run() }
    do {
        let result = try await body()
        task.cancel()
        _ = await task.result
        return result
    } catch {
        task.cancel()
        _ = await task.result
        throw error
    }
}

/// A value behind a lock that closures can capture (a `Mutex` is not copyable).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}
