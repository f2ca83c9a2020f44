@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("Object store: objects, the global resourceVersion and the change history, without I/O")
struct ObjectStoreTests {
    static let nodes = "tinyflow.dev/tinynodes"
    static let configMaps = "/configmaps"

    static func object(_ name: String, namespace: String? = "ns", value: Int = 0) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        return ["metadata": .object(metadata), "spec": ["value": .integer(value)]]
    }

    static func names(_ state: [String: JSONValue]) -> [String] { state.keys.sorted() }

    @Test("every write takes the next resourceVersion of one counter over all resources")
    func oneCounter() {
        var store = ObjectStore(historyCapacity: 10, resourceVersion: 5)
        let a = store.put(Self.object("a"), storageKey: Self.nodes, previous: nil)
        let b = store.put(Self.object("b"), storageKey: Self.configMaps, previous: nil)
        let a2 = store.put(Self.object("a", value: 1), storageKey: Self.nodes, previous: a)
        let gone = store.remove(b, storageKey: Self.configMaps)
        #expect([a, b, a2, gone].map(\.resourceVersion) == ["6", "7", "8", "9"])
        #expect(store.resourceVersion == 9)
        #expect(store.object(Self.nodes, "ns/a") == a2)
        #expect(store.object(Self.configMaps, "ns/b") == nil)
        #expect(store.undurable.map(\.type) == [.added, .added, .modified, .deleted])
        #expect(store.undurable.last?.previous == b)
        #expect(ObjectStore.key(of: Self.object("c", namespace: nil)) == "/c")
        #expect(store.hasContent(namespace: "ns"))
        #expect(!store.hasContent(namespace: "other"))
    }

    @Test("changes are undurable until the group commit reports them on disk; watches resume only from durable ones")
    func durability() throws {
        var store = ObjectStore(historyCapacity: 10)
        let a = store.put(Self.object("a"), storageKey: Self.nodes, previous: nil)
        _ = store.put(Self.object("b"), storageKey: Self.nodes, previous: nil)
        #expect(store.durableVersion == 0)
        #expect(Self.names(store.durableObjects(of: Self.nodes)) == [])
        #expect(try store.changes(after: 0).isEmpty)
        #expect(store.undurableChanges(after: 0).map(\.resourceVersion) == [1, 2])

        store.markDurable(through: 1)
        #expect(store.durableVersion == 1)
        #expect(Self.names(store.durableObjects(of: Self.nodes)) == ["ns/a"])
        #expect(try store.changes(after: 0).map(\.resourceVersion) == [1])
        #expect(store.undurableChanges(after: 1).map(\.resourceVersion) == [2])

        // A change written while the batch of #2 is on its way is not part of that batch.
        _ = store.put(Self.object("a", value: 1), storageKey: Self.nodes, previous: a)
        store.markDurable(through: 2)
        #expect(store.durableVersion == 2)
        #expect(store.durableObjects(of: Self.nodes)["ns/a"] == a)
        #expect(store.undurableChanges(after: 2).map(\.resourceVersion) == [3])
        store.markDurable(through: 3)
        #expect(try store.changes(after: 1).map(\.resourceVersion) == [2, 3])
        #expect(try store.changes(after: 3).isEmpty)
    }

    @Test("the history keeps at least its capacity; a watch from before it gets 410 Gone")
    func historyWindow() throws {
        var store = ObjectStore(historyCapacity: 4)
        for index in 0..<30 {
            _ = store.put(Self.object("o\(index)"), storageKey: Self.nodes, previous: nil)
            store.markDurable(through: store.resourceVersion)
            #expect(store.history.count >= min(store.resourceVersion, 4))
            #expect(store.history.count <= 4 + 16)
        }
        let error = #expect(throws: APIError.self) { try store.changes(after: 1) }
        #expect(error?.code == 410)
        #expect(error?.reason == "Expired")
        #expect(try store.changes(after: 26).map(\.resourceVersion) == [27, 28, 29, 30])
    }

    @Test("compaction forgets the history: only the durable state is left to resume from")
    func compaction() throws {
        var store = ObjectStore(historyCapacity: 10)
        for index in 0..<3 { _ = store.put(Self.object("o\(index)"), storageKey: Self.nodes, previous: nil) }
        store.markDurable(through: 3)
        store.compactHistory()
        #expect(throws: APIError.self) { try store.changes(after: 2) }
        #expect(try store.changes(after: 3).isEmpty)
    }

    @Test("a snapshot at an earlier resourceVersion undoes later changes, durable or not, of that resource only")
    func snapshots() throws {
        var store = ObjectStore(historyCapacity: 10)
        let a = store.put(Self.object("a"), storageKey: Self.nodes, previous: nil)  // 1
        _ = store.put(Self.object("b"), storageKey: Self.nodes, previous: nil)  // 2
        store.markDurable(through: 2)
        _ = store.put(Self.object("a", value: 1), storageKey: Self.nodes, previous: a)  // 3
        _ = store.remove(try #require(store.object(Self.nodes, "ns/b")), storageKey: Self.nodes)  // 4
        _ = store.put(Self.object("c"), storageKey: Self.configMaps, previous: nil)  // 5
        store.markDurable(through: 4)
        _ = store.put(Self.object("d"), storageKey: Self.nodes, previous: nil)  // 6, undurable

        let atOne = try store.snapshot(of: Self.nodes, at: 1)
        #expect(Self.names(atOne) == ["ns/a"])
        #expect(atOne["ns/a"] == a)
        #expect(Self.names(try store.snapshot(of: Self.nodes, at: 4)) == ["ns/a"])
        #expect(Self.names(try store.snapshot(of: Self.nodes, at: 6)) == ["ns/a", "ns/d"])
        #expect(Self.names(try store.snapshot(of: Self.configMaps, at: 4)) == [])

        store.markDurable(through: 6)
        store.compactHistory()
        let error = #expect(throws: APIError.self) { try store.snapshot(of: Self.nodes, at: 2) }
        #expect(error?.code == 410)
    }

    @Test("a store loaded from disk starts with everything durable and no history")
    func loaded() throws {
        let store = ObjectStore(historyCapacity: 10, resourceVersion: 40, objects: [Self.nodes: ["ns/a": Self.object("a")]])
        #expect(store.durableVersion == 40)
        #expect(store.undurable.isEmpty)
        #expect(try store.changes(after: 40).isEmpty)
        #expect(throws: APIError.self) { try store.changes(after: 39) }
        #expect(Self.names(store.objects(of: Self.nodes)) == ["ns/a"])
    }

    @Test("pages are a consistent snapshot at the first page's resourceVersion, with the count of what is left")
    func pages() throws {
        var store = ObjectStore(historyCapacity: 100)
        for name in ["a", "b", "c", "d", "e"] { _ = store.put(Self.object(name), storageKey: Self.nodes, previous: nil) }
        _ = store.put(Self.object("x", namespace: "other"), storageKey: Self.nodes, previous: nil)
        store.markDurable(through: store.resourceVersion)
        let filter = ObjectFilter(namespace: "ns")
        let first = try store.list(Self.nodes, filter: filter, from: .latest, limit: 2)
        #expect(first.items.map(ObjectStore.key(of:)) == ["ns/a", "ns/b"])
        #expect(first.resourceVersion == 6)
        #expect(first.remainingItemCount == 3)
        let token = try #require(first.next)
        // Later writes do not show in the later pages.
        _ = store.remove(try #require(store.object(Self.nodes, "ns/c")), storageKey: Self.nodes)
        _ = store.put(Self.object("bb"), storageKey: Self.nodes, previous: nil)
        let second = try store.list(Self.nodes, filter: filter, from: .page(token), limit: 2)
        #expect(second.items.map(ObjectStore.key(of:)) == ["ns/c", "ns/d"])
        #expect(second.resourceVersion == 6)
        let last = try store.list(Self.nodes, filter: filter, from: .page(try #require(second.next)), limit: 2)
        #expect(last.items.map(ObjectStore.key(of:)) == ["ns/e"])
        #expect(last.next == nil)
        #expect(last.remainingItemCount == nil)
        #expect(try store.list(Self.nodes, filter: filter, from: .latest, limit: 0).items.count == 5)
    }

    @Test("an exact-resourceVersion list serves that state; 504 for the future, 410 beyond the history")
    func exactLists() throws {
        var store = ObjectStore(historyCapacity: 100)
        _ = store.put(Self.object("a"), storageKey: Self.nodes, previous: nil)
        _ = store.put(Self.object("b"), storageKey: Self.nodes, previous: nil)
        store.markDurable(through: 2)
        #expect(try store.list(Self.nodes, filter: ObjectFilter(), from: .exact(1), limit: 0).items.map(ObjectStore.key(of:)) == ["ns/a"])
        #expect((#expect(throws: APIError.self) { try store.list(Self.nodes, filter: ObjectFilter(), from: .exact(3), limit: 0) })?.code == 504)
        store.compactHistory()
        let error = #expect(throws: APIError.self) { try store.list(Self.nodes, filter: ObjectFilter(), from: .exact(1), limit: 0) }
        #expect(error?.code == 410)
        #expect(error?.message == "too old resource version: 1 (2)")
    }
}
