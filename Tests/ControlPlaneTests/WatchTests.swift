@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Logging
import TestSupport
import Testing

@Suite("Watch", .timeLimit(.minutes(3)))
struct WatchTests {
    @Test("a watch from the current resourceVersion gets every later change exactly once, in order")
    func exactlyOnceInOrder() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("w"))
            let list = try await client.get(Fixtures.nodes).json
            let from = try #require(list["metadata"]?["resourceVersion"]?.stringValue)
            let watch = WatchRecorder(client.stream(Fixtures.nodes + "?watch=true&resourceVersion=\(from)"))
            // Writes from several tasks at once; the watch must see each exactly once, in resourceVersion order.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<5 { _ = try await client.create(Fixtures.node("n\(writer)-\(index)")) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.send("DELETE", Fixtures.nodes + "/w").status == 200)
            let events = try await watch.waitForEvents(21)
            // A later write's event comes after every earlier one: once the marker's arrived, a
            // duplicate of any of the 21 would have arrived too.
            _ = try await client.create(Fixtures.node("marker"))
            try await eventually("the marker's event") {
                await watch.events.contains { $0["object"]?["metadata"]?["name"] == "marker" }
            }
            let all = await watch.events
            #expect(all.count == 22)
            #expect(all.last?["object"]?["metadata"]?["name"] == "marker")
            let versions = events.compactMap { Int($0["object"]?.resourceVersion ?? "") }
            #expect(versions == versions.sorted())
            #expect(Set(versions).count == versions.count)
            #expect(versions.allSatisfy { $0 > Int(from) ?? 0 })
            #expect(events.filter { $0["type"] == "ADDED" }.count == 20)
            #expect(events.last?["type"] == "DELETED")
            #expect(events.last?["object"]?["metadata"]?["name"] == "w")
            await watch.cancel()
        }
    }

    @Test("a watch from a resourceVersion older than the retained history gets 410 Gone")
    func goneForCompacted() async throws {
        try await withPlane(configure: { $0.watchHistoryCapacity = 4 }) { _, client in
            try await client.installTinyNodeCRD()
            let first = try await client.create(Fixtures.node("old"))
            for index in 0..<20 { _ = try await client.create(Fixtures.node("x\(index)")) }
            let watch = WatchRecorder(client.stream(Fixtures.nodes + "?watch=true&resourceVersion=\(first.resourceVersion)"))
            let events = try await watch.waitForEvents(1)
            #expect(events[0]["type"] == "ERROR")
            #expect(events[0]["object"]?["code"] == 410)
            #expect(events[0]["object"]?["reason"] == "Expired")
            try await watch.waitForEnd()
            // A recent resourceVersion is still inside the window.
            let current = try await client.get(Fixtures.nodes).json["metadata"]?["resourceVersion"]?.stringValue ?? ""
            let fresh = WatchRecorder(client.stream(Fixtures.nodes + "?watch=true&resourceVersion=\(current)"))
            _ = try await client.create(Fixtures.node("new"))
            let later = try await fresh.waitForEvents(1)
            #expect(later[0]["type"] == "ADDED")
            await fresh.cancel()
        }
    }

    @Test("a watch without a resourceVersion starts with synthetic ADDED events; selectors turn moves into ADDED/DELETED")
    func syntheticAndSelectorTransitions() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("a", labels: ["app": "x"]))
            _ = try await client.create(Fixtures.node("b", labels: ["app": "y"]))
            let watch = WatchRecorder(client.stream(Fixtures.nodes + "?watch=1&labelSelector=app%3Dx"))
            let initial = try await watch.waitForEvents(1)
            #expect(initial[0]["type"] == "ADDED")
            #expect(initial[0]["object"]?["metadata"]?["name"] == "a")
            _ = try await client.send("PATCH", Fixtures.nodes + "/b", json: ["metadata": ["labels": ["app": "x"]]], contentType: "application/merge-patch+json")
            _ = try await client.send("PATCH", Fixtures.nodes + "/a", json: ["metadata": ["labels": ["app": "z"]]], contentType: "application/merge-patch+json")
            let events = try await watch.waitForEvents(3)
            #expect(events[1]["type"] == "ADDED")
            #expect(events[1]["object"]?["metadata"]?["name"] == "b")
            #expect(events[2]["type"] == "DELETED")
            #expect(events[2]["object"]?["metadata"]?["name"] == "a")
            await watch.cancel()
        }
    }

    @Test("watches that allow bookmarks get BOOKMARK events; timeoutSeconds ends the stream")
    func bookmarksAndTimeout() async throws {
        try await withPlane(configure: { $0.bookmarkInterval = .milliseconds(100) }) { _, client in
            let rv = try await client.get("/api/v1/namespaces/default/configmaps").json["metadata"]?["resourceVersion"]?.stringValue ?? ""
            let watch = WatchRecorder(client.stream("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(rv)&allowWatchBookmarks=true&timeoutSeconds=1"))
            let events = try await watch.waitForEvents(1)
            #expect(events[0]["type"] == "BOOKMARK")
            #expect(events[0]["object"]?["metadata"]?["resourceVersion"] == .string(rv))
            #expect(events[0]["object"]?["kind"] == "ConfigMap")
            try await watch.waitForEnd(timeout: .seconds(5))
        }
    }

    @Test("a watcher that falls too far behind is closed instead of buffering without bound")
    func slowWatcherIsClosed() async throws {
        try await withTemporaryDirectory { directory in
            let server = try APIServer(
                databasePath: directory.appendingPathComponent("state.db").path,
                options: APIServerOptions(historyCapacity: 100, watchBufferSize: 3, bookmarkInterval: .seconds(60), defaultWatchTimeout: .seconds(60)),
                logger: .init(label: "test"))
            await server.seedIfEmpty()
            let (_, stream) = await server.startWatch(type: ResourceRegistry.configMaps, filter: ObjectFilter(), from: await server.resourceVersion,
                                                 bookmarks: false, timeout: nil)
            for index in 0..<10 {
                _ = try await server.create(type: ResourceRegistry.configMaps, version: "v1", namespace: "default",
                                            body: ["metadata": ["name": .string("c\(index)")]], manager: "test", dryRun: false, fieldValidation: "")
            }
            await server.waitUntilDurable()
            #expect(await server.openWatchCount == 0)
            var received = 0
            for await _ in stream { received += 1 }
            #expect(received == 3)  // the buffered events are delivered, then the stream ends
        }
    }
}
