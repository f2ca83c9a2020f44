@testable import ControlPlane
import Foundation
import JSONSchemaKit
import TestSupport
import Testing

@Suite("Persistence, concurrency and faults", .timeLimit(.minutes(3)))
struct PersistenceAndConcurrencyTests {
    @Test("restarted on the same data directory it serves the same objects, resourceVersions and token")
    func restart() async throws {
        try await withTemporaryDirectory { directory in
            let (before, token, crdVersion) = try await EmbeddedControlPlane.withRunning(dataDirectory: directory) { plane in
                let client = TestHTTPClient(baseURL: plane.baseURL, token: plane.token)
                try await client.installTinyNodeCRD()
                _ = try await client.create(Fixtures.node("kept"))
                let list = try await client.get(Fixtures.nodes).json
                let crd = try await client.get(Fixtures.crds + "/tinynodes.tinyflow.dev").json
                return (list, plane.token, crd.resourceVersion)
            }
            try await EmbeddedControlPlane.withRunning(dataDirectory: directory) { plane in
                #expect(plane.token == token)
                let client = TestHTTPClient(baseURL: plane.baseURL, token: plane.token)
                let after = try await client.get(Fixtures.nodes).json
                #expect(after["items"] == before["items"])
                #expect(after["metadata"]?["resourceVersion"] == before["metadata"]?["resourceVersion"])
                #expect(try await client.get(Fixtures.crds + "/tinynodes.tinyflow.dev").json.resourceVersion == crdVersion)
                // New writes continue the same global sequence.
                let next = try await client.create(Fixtures.node("next"))
                #expect(Int(next.resourceVersion) ?? 0 > Int(before["metadata"]?["resourceVersion"]?.stringValue ?? "") ?? 0)
                // History from before the restart is gone: older watches get 410, current ones work.
                let watch = WatchRecorder(client.stream(Fixtures.nodes + "?watch=true&resourceVersion=1"))
                #expect(try await watch.waitForEvents(1)[0]["object"]?["code"] == 410)
            }
        }
    }

    @Test("8 writers doing read-modify-write with retry on 409 lose no update")
    func concurrentWriters() async throws {
        try await withPlane { _, client in
            _ = try await client.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "counter"], "data": ["n": "0"]],
                                        at: "/api/v1/namespaces/default/configmaps")
            let path = "/api/v1/namespaces/default/configmaps/counter"
            let perWriter = 10
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var conflicts = 0
                        var done = 0
                        while done < perWriter {
                            var current = try await client.get(path).json
                            let n = Int(current["data"]?["n"]?.stringValue ?? "") ?? -1
                            current["data"]?["n"] = .string(String(n + 1))
                            let response = try await client.send("PUT", path, json: current)
                            if response.status == 200 { done += 1 } else if response.status == 409 { conflicts += 1 } else {
                                Issue.record("unexpected status \(response.status)")
                                return conflicts
                            }
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
            let final = try await client.get(path).json
            #expect(final["data"]?["n"] == .string(String(8 * perWriter)))
            #expect(conflicts >= 0)
        }
    }

    @Test("injected faults: 5xx and 429 with Retry-After, forced 410 and closed watches")
    func faults() async throws {
        try await withPlane { plane, client in
            plane.faults.failNextRequests(1, status: 429, retryAfter: 2)
            let throttled = try await client.get("/api/v1/namespaces")
            #expect(throttled.status == 429)
            #expect(throttled.headers["retry-after"] == "2")
            #expect(throttled.json["reason"] == "TooManyRequests")
            plane.faults.failNextRequests(2, status: 503, pathContains: "configmaps")
            #expect(try await client.get("/api/v1/namespaces").status == 200)
            #expect(try await client.get("/api/v1/namespaces/default/configmaps").status == 503)
            #expect(try await client.get("/api/v1/namespaces/default/configmaps").status == 503)
            #expect(try await client.get("/api/v1/namespaces/default/configmaps").status == 200)

            plane.faults.expireNextWatches()
            let gone = WatchRecorder(client.stream("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1"))
            #expect(try await gone.waitForEvents(1)[0]["object"]?["code"] == 410)
            try await gone.waitForEnd()

            let open = WatchRecorder(client.stream("/api/v1/namespaces/default/configmaps?watch=true"))
            try await eventually("the watch to open") { await plane.openWatchCount == 1 }
            await plane.faults.closeWatches()
            try await open.waitForEnd()

            plane.faults.setLatency(.milliseconds(200))
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await client.get("/api")
            #expect(clock.now - start >= .milliseconds(200))
            plane.faults.reset()
        }
    }
}
