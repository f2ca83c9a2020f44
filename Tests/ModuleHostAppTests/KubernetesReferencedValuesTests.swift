import ConfigurationReferences
import ControlPlaneTestSupport
import Foundation
import KubernetesClient
import KubernetesModels
import Logging
import ModuleHost
import ModuleHostApp
import Synchronization
import TestSupport
import Testing

@Suite("The Secrets and ConfigMaps a module host follows", .timeLimit(.minutes(2)))
struct KubernetesReferencedValuesTests {
    private func secret(_ name: String, _ data: [String: String]) -> Secret {
        Secret(
            metadata: ObjectMeta(name: name, namespace: "default"),
            data: data.mapValues { Data($0.utf8).base64EncodedString() })
    }

    @Test("tracked objects are read once before track returns, followed by watch (changes, deletions), and dropped when untracked")
    func followsObjects() async throws {
        try await withPlane { _, client in
            let secrets = client.api(Secret.self, namespace: "default")
            _ = try await secrets.create(secret("db", ["password": "first-value"]))
            _ = try await client.api(ConfigMap.self, namespace: "default").create(configMap("app", ["user": "alice"]))
            // The source owns (and closes) a client of its own.
            let valuesClient = try KubernetesClient(configuration: client.configuration)
            let values = KubernetesReferencedValues(client: valuesClient, servedNamespace: "default", logger: Logger(label: "test"))
            let db = ReferencedObject(kind: .secret, namespace: "default", name: "db")
            let app = ReferencedObject(kind: .configMap, namespace: "default", name: "app")
            let missing = ReferencedObject(kind: .secret, namespace: "default", name: "missing")
            let elsewhere = ReferencedObject(kind: .secret, namespace: "other", name: "db")
            let changes = ChangeCount()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await values.run() }
                group.addTask { await values.whenChanged { changes.count.withLock { $0 += 1 } } }
                defer { group.cancelAll() }

                await values.track([db, app, missing, elsewhere])
                #expect(values.state(of: db) == .found(["password": "first-value"]))
                #expect(values.state(of: app) == .found(["user": "alice"]))
                #expect(values.state(of: missing) == .notFound)
                guard case .unavailable(let why) = values.state(of: elsewhere) else {
                    Issue.record("another namespace's Secret was read")
                    return
                }
                #expect(why.contains("own namespace"))

                let before = changes.count.withLock { $0 }
                _ = try await secrets.update("db") { $0.data = ["password": Data("second-value".utf8).base64EncodedString()] }
                try await eventually("the change is seen and told", timeout: .seconds(10)) {
                    values.state(of: db) == .found(["password": "second-value"]) && changes.count.withLock { $0 } > before
                }
                _ = try await secrets.create(secret("missing", ["k": "now here"]))
                try await eventually("a created Secret is seen", timeout: .seconds(10)) {
                    values.state(of: missing) == .found(["k": "now here"])
                }
                try await secrets.delete("db")
                try await eventually("a deleted Secret is not found", timeout: .seconds(10)) { values.state(of: db) == .notFound }

                await values.track([app])
                guard case .unavailable = values.state(of: db) else {
                    Issue.record("an untracked object is still known")
                    return
                }
            }
        }
    }
}

private final class ChangeCount: Sendable {
    let count = Mutex(0)
}
