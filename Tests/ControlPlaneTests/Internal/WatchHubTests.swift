@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Synchronization
import Testing

@Suite("Watch hub: subscriptions, fan-out, bookmarks and bounded buffers, without HTTP")
struct WatchHubTests {
    static let nodes = "tinyflow.dev/tinynodes"
    static let configMaps = "/configmaps"

    static func object(_ name: String, namespace: String = "ns", labels: [String: JSONValue] = [:], rv: Int = 1) -> JSONValue {
        ["metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .object(labels), "resourceVersion": .string(String(rv))]]
    }

    static func change(_ type: ChangeRecord.Kind, _ object: JSONValue, previous: JSONValue? = nil, storageKey: String = nodes,
                       rv: Int = 1) -> ChangeRecord {
        ChangeRecord(resourceVersion: rv, type: type, storageKey: storageKey, key: ObjectStore.key(of: object), object: object, previous: previous)
    }

    /// Everything a stream carries until it ends: (type, name) of events, "BOOKMARK@rv", "ERROR".
    static func drain(_ stream: AsyncStream<WatchItem>) async -> [String] {
        var seen: [String] = []
        for await item in stream {
            switch item {
            case .event(let type, let object): seen.append("\(type) \(object["metadata"]?["name"]?.stringValue ?? "")")
            case .bookmark(let rv, let end): seen.append("BOOKMARK@\(rv)\(end ? " end" : "")")
            case .error(let status): seen.append("ERROR \(status["code"]?.intValue ?? 0)")
            }
        }
        return seen
    }

    @Test("a published change reaches the watches of its resource whose filter it passes, and only those")
    func fanOut() async throws {
        var hub = WatchHub(bufferSize: 10)
        let all = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: false, initial: []) { _ in }
        let labelled = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(labels: try LabelSelector(parsing: "app=x")),
                                     bookmarks: false, initial: []) { _ in }
        let otherNamespace = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(namespace: "other"), bookmarks: false, initial: []) { _ in }
        let configMaps = hub.subscribe(storageKey: Self.configMaps, filter: ObjectFilter(), bookmarks: false, initial: []) { _ in }
        #expect(hub.count == 4)
        #expect(hub.publish(Self.change(.added, Self.object("a", labels: ["app": "x"]))).isEmpty)
        #expect(hub.publish(Self.change(.added, Self.object("b"), rv: 2)).isEmpty)
        hub.endAll()
        #expect(hub.count == 0)
        #expect(await Self.drain(all.stream) == ["ADDED a", "ADDED b"])
        #expect(await Self.drain(labelled.stream) == ["ADDED a"])
        #expect(await Self.drain(otherNamespace.stream) == [])
        #expect(await Self.drain(configMaps.stream) == [])
    }

    @Test("objects moving into or out of a watcher's selector are ADDED or DELETED for it", arguments: [
        (ChangeRecord.Kind.modified, "y", "x", "ADDED"),
        (.modified, "x", "y", "DELETED"),
        (.modified, "x", "x", "MODIFIED"),
        (.modified, "y", "y", nil),
        (.added, nil, "x", "ADDED"),
        (.added, nil, "y", nil),
        (.deleted, "x", "y", "DELETED"),
        (.deleted, "y", "x", nil),
    ] as [(ChangeRecord.Kind, String?, String, String?)])
    func selectorTransitions(kind: ChangeRecord.Kind, before: String?, after: String, expected: String?) throws {
        let filter = ObjectFilter(labels: try LabelSelector(parsing: "app=x"))
        let previous = before.map { Self.object("a", labels: ["app": .string($0)]) }
        let change = Self.change(kind, Self.object("a", labels: ["app": .string(after)]), previous: previous)
        guard let item = WatchHub.event(for: change, through: filter) else {
            #expect(expected == nil)
            return
        }
        guard case .event(let type, _) = item else {
            Issue.record("not an event: \(item)")
            return
        }
        #expect(type == expected)
    }

    @Test("a watcher more than its buffer behind is closed and still gets what was buffered")
    func slowWatcherIsClosed() async {
        var hub = WatchHub(bufferSize: 3)
        let slow = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: false,
                                 initial: [.event(type: "ADDED", object: Self.object("initial"))]) { _ in }
        var closed: [Int] = []
        for index in 0..<5 {
            closed += hub.publish(Self.change(.added, Self.object("c\(index)"), rv: index + 2))
        }
        #expect(closed == [slow.id])
        #expect(hub.count == 0)
        // The initial events do not count against the buffer.
        #expect(await Self.drain(slow.stream) == ["ADDED initial", "ADDED c0", "ADDED c1", "ADDED c2"])
    }

    @Test("bookmarks go only to watches that asked for them")
    func bookmarks() async {
        var hub = WatchHub(bufferSize: 10)
        let plain = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: false, initial: []) { _ in }
        #expect(!hub.wantsBookmarks)
        let asked = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: true,
                                  initial: [.bookmark(resourceVersion: 5, initialEventsEnd: true)]) { _ in }
        #expect(hub.wantsBookmarks)
        #expect(hub.sendBookmarks(at: 9).isEmpty)
        hub.end(asked.id)
        #expect(!hub.wantsBookmarks)
        hub.end(plain.id)
        #expect(await Self.drain(asked.stream) == ["BOOKMARK@5 end", "BOOKMARK@9"])
        #expect(await Self.drain(plain.stream) == [])
    }

    @Test("a client that stops reading is reported by id; forgetting it cancels its timeout")
    func termination() async throws {
        var hub = WatchHub(bufferSize: 10)
        let terminated = Mutex<[Int]>([])
        let subscription = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: false, initial: []) { id in
            terminated.withLock { $0.append(id) }
        }
        let timeout = Task<Void, Never> { try? await Task.sleep(for: .seconds(3600)) }
        hub.setTimeout(timeout, for: subscription.id)
        let reader = Task { await Self.drain(subscription.stream) }
        reader.cancel()
        _ = await reader.value
        #expect(terminated.withLock { $0 } == [subscription.id])
        hub.forget(subscription.id)
        #expect(hub.count == 0)
        await timeout.value  // returns: forgetting cancelled the timer
    }

    @Test("a timeout attached to a watch that has ended is cancelled at once")
    func lateTimeout() async {
        var hub = WatchHub(bufferSize: 1)
        let subscription = hub.subscribe(storageKey: Self.nodes, filter: ObjectFilter(), bookmarks: false, initial: []) { _ in }
        hub.end(subscription.id)
        let timeout = Task<Void, Never> { try? await Task.sleep(for: .seconds(3600)) }
        hub.setTimeout(timeout, for: subscription.id)
        await timeout.value
        #expect(timeout.isCancelled)
    }

    @Test("a failed watch carries one ERROR event and ends")
    func failed() async {
        #expect(await Self.drain(WatchHub.failed(APIError.gone("too old resource version: 1 (5)").status)) == ["ERROR 410"])
    }
}
