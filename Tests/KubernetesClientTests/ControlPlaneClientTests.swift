import CRDModels
import ControlPlane
import Foundation
import JSONSchemaKit
import KubernetesClient
import KubernetesModels
import Synchronization
import ControlPlaneTestSupport
import TestSupport
import Testing

@Suite("The client against the embedded control plane, over HTTP", .timeLimit(.minutes(3)))
struct ControlPlaneClientTests {
    @Test("create, get, replace, delete a ConfigMap")
    func crud() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            let created = try await api.create(configMap("a", ["k": "v"]))
            #expect(created.metadata.uid != nil)
            var read = try await api.get("a")
            #expect(read.data == ["k": "v"])
            read.data = ["k": "w"]
            let replaced = try await api.replace(read)
            #expect(replaced.data == ["k": "w"])
            #expect(replaced.metadata.resourceVersion != created.metadata.resourceVersion)
            try await api.delete("a")
            #expect(try await api.getOptional("a") == nil)
            let error = await #expect(throws: KubernetesError.self) { try await api.get("a") }
            #expect(error?.isNotFound == true)
            #expect(error?.status?.reason == "NotFound")
        }
    }

    @Test("list pages with limit and continue; listAll gathers every page")
    func pagination() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            for index in 0..<7 { _ = try await api.create(configMap("cm-\(index)")) }
            let first = try await api.list(ListParameters(limit: 3))
            #expect(first.items.count == 3)
            let token = try #require(first.metadata.continue)
            let second = try await api.list(ListParameters(limit: 3, continue: token))
            #expect(second.items.count == 3)
            #expect(Set(first.items.map(\.metadata.name)).isDisjoint(with: second.items.map(\.metadata.name)))
            let all = try await api.listAll(pageSize: 2)
            #expect(all.items.count == 7)
            #expect(Set(all.items.compactMap(\.metadata.name)).count == 7)
            #expect(all.metadata.resourceVersion != nil)
            let selected = try await client.api(ConfigMap.self).list(ListParameters(fieldSelector: "metadata.name=cm-3"))
            #expect(selected.items.map(\.metadata.name) == ["cm-3"])
        }
    }

    @Test("a stale resourceVersion update returns 409 and retryOnConflict converges")
    func staleUpdateConflicts() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            _ = try await api.create(configMap("counter", ["n": "0"]))
            var stale = try await api.get("counter")
            _ = try await api.update("counter") { $0.data = ["n": "1"] }
            stale.data = ["n": "stale"]
            let error = await #expect(throws: KubernetesError.self) { try await api.replace(stale) }
            #expect(error?.isConflict == true)
            #expect(error?.status?.reason == "Conflict")
            #expect(error?.verb == .update)

            // Many concurrent increments: every one lands exactly once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await api.update("counter", maxAttempts: 50) { object in
                            let n = Int(object.data?["n"] ?? "0") ?? 0
                            object.data = ["n": String(n + 1)]
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await api.get("counter").data == ["n": "9"])
        }
    }

    @Test("server-side apply, merge patch and JSON patch with a failing test op (422, not retried)")
    func patches() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            let applied = try await api.apply(configMap("p", ["a": "1"]), fieldManager: "tinyflow-operator")
            #expect(applied.data == ["a": "1"])
            #expect(applied.metadata.managedFields?.isEmpty == false)
            let merged = try await api.patch("p", .merge(["data": ["b": "2"]]))
            #expect(merged.data == ["a": "1", "b": "2"])
            let patched = try await api.patch("p", .json([.test("/data/a", "1"), .replace("/data/a", "3")]))
            #expect(patched.data?["a"] == "3")
            let error = await #expect(throws: KubernetesError.self) {
                try await api.patch("p", .json([.test("/data/a", "1"), .replace("/data/a", "4")]))
            }
            #expect(error?.isInvalid == true)
            #expect(try await api.get("p").data?["a"] == "3")
        }
    }

    @Test("delete honours preconditions")
    func deletePreconditions() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            let created = try await api.create(configMap("d"))
            let error = await #expect(throws: KubernetesError.self) {
                try await api.delete("d", DeleteOptions(propagationPolicy: .background, preconditions: .init(uid: "not-the-uid")))
            }
            #expect(error?.isConflict == true)
            try await api.delete("d", DeleteOptions(propagationPolicy: .foreground, preconditions: .init(uid: created.metadata.uid)))
            #expect(try await api.getOptional("d") == nil)
        }
    }

    @Test("the status subresource: get, replace and patch status; spec writes leave status alone")
    func statusSubresource() async throws {
        try await withPlane { _, client in
            try await installTinyNodeCRD(client)
            let api = client.api(TinyNode.self)
            let node = try await api.create(TinyNode(metadata: ObjectMeta(name: "n"), spec: TinyNodeSpec(module: "common", component: "ticker")))
            #expect(node.metadata.generation == 1)
            var withStatus = node
            withStatus.status = TinyNodeStatus(observedGeneration: 1)
            let replaced = try await api.replaceStatus(withStatus)
            #expect(replaced.status?.observedGeneration == 1)
            #expect(replaced.metadata.generation == 1)
            let patched = try await api.patchStatus("n", .merge(["status": ["observedGeneration": 2]]))
            #expect(patched.status?.observedGeneration == 2)
            let read = try await api.getStatus("n")
            #expect(read.status?.observedGeneration == 2)
            var spec = read
            spec.spec.component = "debug"
            spec.status = nil
            let updated = try await api.replace(spec)
            #expect(updated.metadata.generation == 2)
            #expect(updated.status?.observedGeneration == 2)
        }
    }

    @Test("5xx answers are retried with backoff and Retry-After honoured")
    func faultsRetried() async throws {
        let recorder = Locked<RecordingTransport?>(nil)
        try await withPlane(transport: { configuration in
            let transport = RecordingTransport(try AsyncHTTPClientTransport(configuration: configuration))
            recorder.withLock { $0 = transport }
            return transport
        }) { plane, client in
            let api = client.api(ConfigMap.self)
            _ = try await api.create(configMap("r"))
            plane.faults.failNextRequests(2, status: 503, pathContains: "/configmaps/r")
            #expect(try await api.get("r").metadata.name == "r")
            plane.faults.failNextRequests(1, status: 429, retryAfter: 1, pathContains: "/configmaps/r")
            let start = ContinuousClock.now
            #expect(try await api.get("r").metadata.name == "r")
            #expect(ContinuousClock.now - start >= .seconds(1))
            let gets = try #require(recorder.withLock { $0 }).requests.filter { $0.0.hasPrefix("GET") && $0.0.hasSuffix("/configmaps/r") }
            #expect(gets.count == 5)
            #expect(gets[4].1 - gets[3].1 >= .seconds(1))
            #expect(gets[1].1 - gets[0].1 >= .milliseconds(15))

            // A create answered 500 is not retried (it may have happened).
            plane.faults.failNextRequests(1, status: 500, pathContains: "/configmaps")
            let error = await #expect(throws: KubernetesError.self) { try await api.create(configMap("s")) }
            #expect(error?.code == 500)
        }
    }

    @Test("a watch from a resourceVersion replays what changed since, in order, with bookmarks, and ends cleanly at its timeout")
    func watchStreams() async throws {
        try await withPlane(configure: { $0.bookmarkInterval = .milliseconds(200) }) { _, client in
            let api = client.api(ConfigMap.self)
            let list = try await api.list()
            for index in 0..<3 { _ = try await api.create(configMap("w\(index)")) }
            let started = ContinuousClock.now
            let stream = try await api.watch(resourceVersion: list.metadata.resourceVersion, WatchParameters(timeoutSeconds: 2))
            var names: [String] = []
            var bookmarks = 0
            for try await event in stream {
                switch event {
                case .added(let object): names.append(object.metadata.name ?? "")
                case .bookmark: bookmarks += 1
                default: break
                }
            }
            #expect(names == ["w0", "w1", "w2"])
            #expect(bookmarks >= 1)
            #expect(ContinuousClock.now - started >= .seconds(2), "the stream stayed open until its timeout")
        }
    }

    @Test("a watch closed mid-stream resumes from the last resourceVersion without missing or duplicating events")
    func watchResumes() async throws {
        try await withPlane { plane, client in
            let api = client.api(ConfigMap.self)
            var version = try await api.list().metadata.resourceVersion
            var seen: [String] = []
            let writer = Task {
                for index in 0..<30 {
                    _ = try await api.create(configMap("e\(index)"))
                    if index % 7 == 3 { await plane.faults.closeWatches() }
                }
            }
            var reconnects = 0
            while seen.count < 30 {
                let stream = try await api.watch(resourceVersion: version, WatchParameters(timeoutSeconds: 30))
                for try await event in stream {
                    if case .added(let object) = event { seen.append(object.metadata.name ?? "") }
                    if let rv = event.resourceVersion { version = rv }
                    if seen.count == 30 { break }
                }
                reconnects += 1
            }
            try await writer.value
            #expect(seen == (0..<30).map { "e\($0)" })
            #expect(reconnects >= 2)
        }
    }

    @Test("a watch from an expired resourceVersion fails as gone (410)")
    func watchGone() async throws {
        try await withPlane { plane, client in
            let api = client.api(ConfigMap.self)
            let version = try await api.list().metadata.resourceVersion
            plane.faults.expireNextWatches(1)
            let error = await #expect(throws: KubernetesError.self) {
                for try await _ in try await api.watch(resourceVersion: version) {}
            }
            #expect(error?.isGone == true)
        }
    }

    @Test("a watch that receives nothing for its idle timeout fails so it can reconnect")
    func watchIdle() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            let version = try await api.list().metadata.resourceVersion
            let stream = try await api.watch(resourceVersion: version, WatchParameters(timeoutSeconds: 60), idleTimeout: .milliseconds(300))
            let start = ContinuousClock.now
            await #expect(throws: WatchIdleError.self) { for try await _ in stream {} }
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    @Test("TLS: the kubeconfig's CA data verifies the server; insecure-skip-tls-verify skips; neither fails")
    func tls() async throws {
        try await withTemporaryDirectory { directory in
            try await EmbeddedControlPlane.withRunning(dataDirectory: directory, configure: { $0.tls = true }) { plane in
                let path = directory.appendingPathComponent("kubeconfig").path
                try plane.writeKubeconfig(to: path)
                let verified = try ClientConfiguration.fromKubeconfig(environment: ["KUBECONFIG": path])
                #expect(verified.server.scheme == "https")
                #expect(verified.certificateAuthorityPEM != nil)
                try await KubernetesClient.withClient(configuration: verified) { client in
                    _ = try await client.api(ConfigMap.self).create(configMap("tls"))
                }
                var insecure = verified
                insecure.certificateAuthorityPEM = nil
                insecure.insecureSkipTLSVerify = true
                try await KubernetesClient.withClient(configuration: insecure) { client in
                    let read = try await client.api(ConfigMap.self).get("tls")
                    #expect(read.metadata.name == "tls")
                }
                var untrusted = verified
                untrusted.certificateAuthorityPEM = nil
                untrusted.connectTimeout = .seconds(1)
                try await KubernetesClient.withClient(configuration: untrusted, retryPolicy: .never) { client in
                    let error = await #expect(throws: KubernetesError.self) { try await client.api(ConfigMap.self).get("tls") }
                    #expect(error?.code == nil)
                }
            }
        }
    }
}

/// Installs the TinyNode CRD and waits until it is served.
func installTinyNodeCRD(_ client: KubernetesClient) async throws {
    _ = try await client.api(CustomResourceDefinition.self).create(TinyNode.customResourceDefinition)
    try await eventually("TinyNodes served", timeout: .seconds(5)) {
        (try? await client.api(TinyNode.self).list()) != nil
    }
}
