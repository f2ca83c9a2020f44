import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Synchronization
import ControlPlaneTestSupport
import TestSupport
import Testing

/// Collects watcher events into a store and counts relists.
final class Collected: Sendable {
    let store = Store<ConfigMap>()
    private let counts = Mutex((restarts: 0, applied: 0, deleted: 0))
    func take(_ event: WatcherEvent<ConfigMap>) {
        store.apply(event)
        counts.withLock { counts in
            switch event {
            case .restarted: counts.restarts += 1
            case .applied: counts.applied += 1
            case .deleted: counts.deleted += 1
            }
        }
    }
    var restarts: Int { counts.withLock { $0.restarts } }
    var applied: Int { counts.withLock { $0.applied } }
}

func sameContents(_ store: Store<ConfigMap>, _ list: KubernetesList<ConfigMap>) -> Bool {
    let cached = Dictionary(uniqueKeysWithValues: store.objects.map { ($0.metadata.name ?? "", $0.metadata.resourceVersion ?? "") })
    let server = Dictionary(uniqueKeysWithValues: list.items.map { ($0.metadata.name ?? "", $0.metadata.resourceVersion ?? "") })
    return cached == server
}

@Suite("Watcher driver against the embedded control plane", .timeLimit(.minutes(3)))
struct WatcherIntegrationTests {
    @Test("a forced 410 triggers exactly one relist and the cache equals the server")
    func goneRelistsOnce() async throws {
        try await withPlane { plane, client in
            let api = client.api(ConfigMap.self)
            for index in 0..<5 { _ = try await api.create(configMap("g\(index)")) }
            let collected = Collected()
            let watcher = Watcher(api: api, configuration: fastWatcher())
            try await withService({ await watcher.drive { collected.take($0) } }) {
                try await eventually("first list") { collected.restarts == 1 && collected.store.count == 5 }
                plane.faults.expireNextWatches(1)
                await plane.faults.closeWatches()
                // Changes while the watcher relists.
                _ = try await api.create(configMap("after"))
                try await api.delete("g0")
                try await eventually("relisted and caught up") {
                    guard collected.restarts == 2 else { return false }
                    return sameContents(collected.store, try await api.list())
                }
                _ = try await api.create(configMap("later"))
                try await eventually("watching again") { collected.store.get(ObjectKey(namespace: "default", name: "later")) != nil }
                #expect(collected.restarts == 2)
                #expect(sameContents(collected.store, try await api.list()))
            }
        }
    }

    @Test("watches closed mid-stream resume without missing or duplicating events")
    func resumeWithoutGapsOrDuplicates() async throws {
        try await withPlane { plane, client in
            let api = client.api(ConfigMap.self)
            let collected = Collected()
            let watcher = Watcher(api: api, configuration: fastWatcher())
            try await withService({ await watcher.drive { collected.take($0) } }) {
                try await eventually("first list") { collected.restarts == 1 }
                for index in 0..<40 {
                    _ = try await api.create(configMap("r\(index)"))
                    if index % 9 == 4 { await plane.faults.closeWatches() }
                }
                try await eventually("all seen") { collected.store.count == 40 }
                try await eventually("in sync") { sameContents(collected.store, try await api.list()) }
                #expect(collected.restarts == 1)
                #expect(collected.applied == 40)
            }
        }
    }

    @Test("5xx answers to list are retried by the watcher with backoff")
    func listFailuresRetried() async throws {
        try await withPlane(retryPolicy: .never) { plane, client in
            let api = client.api(ConfigMap.self)
            _ = try await api.create(configMap("x"))
            plane.faults.failNextRequests(3, status: 503, pathContains: "/configmaps")
            let collected = Collected()
            try await withService({ await Watcher(api: api, configuration: fastWatcher()).drive { collected.take($0) } }) {
                try await eventually("listed despite failures") { collected.store.count == 1 }
            }
        }
    }
}
