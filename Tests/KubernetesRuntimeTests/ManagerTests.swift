import ControlPlane
import ControlPlaneTestSupport
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import Synchronization
import TestSupport
import Testing

@Suite("Manager: shared informers, mappers, services", .timeLimit(.minutes(3)))
struct ManagerTests {
    @Test("controllers that read one kind share one list and one watch of it")
    func informersAreShared() async throws {
        let recorder = Locked<RecordingTransport?>(nil)
        try await withPlane(transport: { configuration in
            let transport = RecordingTransport(try AsyncHTTPClientTransport(configuration: configuration))
            recorder.withLock { $0 = transport }
            return transport
        }) { _, client in
            let manager = Manager()
            let api = client.api(ConfigMap.self, namespace: "default")
            let first = manager.informer(api)
            let second = manager.informer(api)
            #expect(first === second)
            let seen = Locked<[String: Set<String>]>([:])
            for name in ["a", "b"] {
                var configuration = ControllerConfiguration(name: name)
                configuration.workers = 1
                manager.add(Controller(informer: manager.informer(api), configuration: configuration) { object, _ in
                    _ = seen.withLock { $0[name, default: []].insert(object.metadata.name ?? "") }
                    return .done
                })
            }
            _ = try await api.create(configMap("shared"))
            try await withService({ try await manager.run() }) {
                try await eventually("both controllers reconciled the object") {
                    seen.withLock { $0["a"]?.contains("shared") == true && $0["b"]?.contains("shared") == true }
                }
                #expect(manager.hasSynced)
            }
            let requests = recorder.withLock { $0?.requests.map(\.0) ?? [] }
            let lists = requests.filter { $0.hasPrefix("GET") && $0.contains("/configmaps") && !$0.contains("watch=") }
            let watches = requests.filter { $0.contains("/configmaps") && $0.contains("watch=") }
            #expect(lists.count == 1, "lists: \(lists)")
            #expect(watches.count == 1, "watches: \(watches)")
        }
    }

    @Test("a change of a watched kind queues the keys its mapper returns, and only those")
    func mapperQueuesKeys() async throws {
        try await withPlane { _, client in
            let manager = Manager()
            let primaries = manager.informer(client.api(ConfigMap.self, namespace: "default"))
            let secondaries = manager.informer(client.api(Lease.self, namespace: "default"))
            let reconciled = Locked<[String]>([])
            let controller = Controller(informer: primaries, configuration: ControllerConfiguration(name: "mapped")) { object, _ in
                reconciled.withLock { $0.append(object.metadata.name ?? "") }
                return .done
            }
            // A lease names the config map it belongs to in a label.
            controller.watches(secondaries) { lease in
                lease.metadata.labels?["owner"].map { [ObjectKey(namespace: "default", name: $0)] } ?? []
            }
            manager.add(controller)
            let configMaps = client.api(ConfigMap.self, namespace: "default")
            _ = try await configMaps.create(configMap("target"))
            _ = try await configMaps.create(configMap("bystander"))
            try await withService({ try await manager.run() }) {
                try await eventually("the first list reconciled both") {
                    Set(reconciled.withLock { $0 }) == ["target", "bystander"]
                }
                let before = reconciled.withLock { $0.count }
                _ = try await client.api(Lease.self, namespace: "default").create(
                    Lease(metadata: ObjectMeta(name: "s", labels: ["owner": "target"])))
                try await eventually("the lease's owner reconciled again") {
                    reconciled.withLock { Array($0.dropFirst(before)) } == ["target"]
                }
                // An unrelated change after it proves nothing else was queued by the lease.
                _ = try await configMaps.create(configMap("marker"))
                try await eventually("the marker reconciled") { reconciled.withLock { $0.last == "marker" } }
                #expect(reconciled.withLock { Array($0.dropFirst(before)) } == ["target", "marker"])
            }
        }
    }

    @Test("the watcher reports a failed request as a failure with its retry delay, then recovers")
    func watcherSurfacesFailures() async throws {
        try await withPlane { plane, client in
            let api = client.api(ConfigMap.self, namespace: "default")
            _ = try await api.create(configMap("before"))
            var configuration = WatcherConfiguration()
            configuration.backoff = Backoff(initial: .milliseconds(10), maximum: .milliseconds(50))
            var iterator = Watcher(api: api, configuration: configuration).makeAsyncIterator()
            guard case .success(.restarted(let listed))? = await iterator.next() else {
                Issue.record("the first element is not the list")
                return
            }
            #expect(listed.map(\.metadata.name) == ["before"])
            // The next request to config maps is the watch; 403 is not retried by the client.
            plane.faults.failNextRequests(1, status: 403, pathContains: "/configmaps")
            guard case .failure(let failure)? = await iterator.next() else {
                Issue.record("the injected failure was not reported")
                return
            }
            #expect(!failure.isGone)
            #expect(failure.retryIn > .zero)
            _ = try await api.create(configMap("after"))
            guard case .success(.applied(let object))? = await iterator.next() else {
                Issue.record("the watcher did not recover")
                return
            }
            #expect(object.metadata.name == "after")
        }
    }
}
