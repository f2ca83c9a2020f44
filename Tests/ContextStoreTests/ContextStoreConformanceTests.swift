import ContextStoreAPI
import ContextStoreMemory
import ContextStorePostgres
import ContextStoreSQLite
import Foundation
import JSONSchemaKit
import PostgresTestSupport
import SQLite
import Synchronization
import TestSupport
import Testing

/// The backends the conformance suite runs against.
///
/// Each case opens a fresh, empty store isolated from every other test's. Adding a backend
/// is one place: a case here and its branch in ``makeStore(limits:)`` (a backend that needs a
/// server can start or reuse one there, and leave it out of `allCases` when none is available).
enum ContextStoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// ``MemoryContextStore``.
    case memory
    /// ``SQLiteContextStore`` on a new file in a new temporary directory.
    case sqlite
    /// ``PostgresContextStore`` on a new database of the test process's PostgreSQL server
    /// (``PostgresServer/shared()``), running until it is closed. Listed when PostgreSQL is
    /// installed, or required (`TINYFLOW_REQUIRE_POSTGRES=1`: then a server that cannot start fails the tests),
    /// except in the unit tier.
    case postgres

    /// `make test-unit` (`TINYFLOW_TEST_TIER=unit`: no servers) leaves PostgreSQL out.
    static var allCases: [ContextStoreBackend] {
        let unitTier = ProcessInfo.processInfo.environment["TINYFLOW_TEST_TIER"] == "unit"
        return [.memory, .sqlite] + (!unitTier && (PostgresServer.isRequired || PostgresServer.isInstalled) ? [.postgres] : [])
    }

    /// Opens a fresh, empty store of this backend with `limits`.
    func makeStore(limits: ContextLimits) async throws -> any ContextStore {
        switch self {
        case .memory:
            MemoryContextStore(limits: limits)
        case .sqlite:
            try SQLiteContextStore(path: temporaryDatabasePath(), limits: limits)
        case .postgres:
            try await startedPostgresStore(limits: limits)
        }
    }

    var testDescription: String { rawValue }

    /// Runs `body` with a fresh store and closes it afterwards, also when `body` throws.
    func withStore<T>(
        limits: ContextLimits = ContextLimits(), _ body: (any ContextStore) async throws -> T
    ) async throws -> T {
        let store = try await makeStore(limits: limits)
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        await store.close()
        if let sqlite = store as? SQLiteContextStore {
            try? FileManager.default.removeItem(at: URL(fileURLWithPath: sqlite.path).deletingLastPathComponent())
        }
        return try result.get()
    }
}

/// A path for a new SQLite file, in a directory of its own that does not exist yet.
func temporaryDatabasePath() -> String {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("tinyflow-context-tests-\(UUID().uuidString)")
        .appendingPathComponent("context.db").path
}

private let node = ContextScope.node(namespace: "default", node: "counter")
private let flow = ContextScope.flow(namespace: "default", flow: "orders")
private let global = ContextScope.global(namespace: "default")

/// Long enough never to run out during a test, for keys that must still be there.
private let longTTL = Duration.seconds(3600)
/// Short enough to wait for, for keys that must expire.
private let shortTTL = Duration.milliseconds(100)

/// The semantics of ``ContextStore`` that every backend shares, checked on each of them.
@Suite("Context store conformance", .timeLimit(.minutes(1)))
struct ContextStoreConformanceTests {
    // MARK: Reading and writing

    @Test("every kind of JSON value reads back as it was written", arguments: ContextStoreBackend.allCases)
    func roundTripsEveryJSONKind(backend: ContextStoreBackend) async throws {
        let values: [String: JSONValue] = [
            "null": .null,
            "true": true,
            "false": false,
            "zero": 0,
            "negative": -42,
            "largest": .integer(.max),
            "smallest": .integer(.min),
            "fraction": 2.5,
            "tiny": .number(1e-300),
            "empty string": "",
            "unicode string": "héllo ✓ 🙂 \"quoted\" \\ \n\t",
            "empty array": [],
            "array": [1, "two", nil, [3.5], ["four": 4]],
            "empty object": [:],
            "object": ["name": "tinyflow", "nested": ["list": [true, false], "n": 1], "none": nil],
        ]
        try await backend.withStore { store in
            for (key, value) in values { try await store.set(key, to: value, in: node) }
            for (key, value) in values {
                let entry = try await store.get(key, in: node)
                #expect(entry?.value == value, "key \(key)")
                #expect(entry?.expiresAt == nil, "key \(key)")
            }
        }
    }

    @Test("keys are arbitrary UTF-8 strings", arguments: ContextStoreBackend.allCases)
    func keysAreArbitraryUTF8(backend: ContextStoreBackend) async throws {
        let keys = ["ключ", "🙂/emoji", "with space", "quote'\"", "%_*?", "back\\slash"]
        try await backend.withStore { store in
            for (index, key) in keys.enumerated() { try await store.set(key, to: .integer(index), in: node) }
            for (index, key) in keys.enumerated() {
                #expect(try await store.get(key, in: node)?.value == .integer(index), "key \(key)")
            }
            #expect(try await store.keys(in: node).sorted() == keys.sorted())
            #expect(try await store.get("a", in: node) == nil)
        }
    }

    @Test("an absent key reads as nil and deleting it reports false", arguments: ContextStoreBackend.allCases)
    func absentKey(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store async throws in
            #expect(try await store.get("missing", in: node) == nil)
            #expect(try await store.delete("missing", in: node) == false)
            #expect(try await store.keys(in: node) == [])
        }
    }

    @Test("delete removes a key and reports that it did", arguments: ContextStoreBackend.allCases)
    func deleteRemovesAKey(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            try await store.set("k", to: "v", in: node)
            #expect(try await store.delete("k", in: node) == true)
            #expect(try await store.get("k", in: node) == nil)
            #expect(try await store.delete("k", in: node) == false)
        }
    }

    @Test("set overwrites the value and every write gets a higher version", arguments: ContextStoreBackend.allCases)
    func setOverwritesWithIncreasingVersions(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let first = try await store.set("k", to: "one", in: node)
            let second = try await store.set("k", to: "two", in: node)
            let third = try await store.set("k", to: "two", in: node)
            #expect(first < second && second < third)
            let entry = try #require(try await store.get("k", in: node))
            #expect(entry.value == "two")
            #expect(entry.version == third)
        }
    }

    @Test("versions come from one sequence across keys and scopes", arguments: ContextStoreBackend.allCases)
    func versionsAreStoreWide(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let a = try await store.set("a", to: 1, in: node)
            let b = try await store.set("b", to: 1, in: flow)
            let c = try await store.increment("c", by: 1, in: global)
            let cVersion = try #require(try await store.get("c", in: global)).version
            let d = try await store.compareAndSet("d", in: node, expecting: nil, to: 1, ttl: nil)
            #expect(a < b && b < cVersion)
            #expect(c == 1)
            guard case .written(let dVersion?) = d else { Issue.record("expected a write, got \(d)"); return }
            #expect(cVersion < dVersion)
        }
    }

    @Test("keys are listed sorted by UTF-8 bytes and filtered by prefix", arguments: ContextStoreBackend.allCases)
    func keysSortedAndFiltered(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            for key in ["b", "a/2", "é", "a", "Z", "a/10", "ab", "a/"] { try await store.set(key, to: true, in: node) }
            try await store.set("a/other-scope", to: true, in: flow)
            #expect(try await store.keys(in: node) == ["Z", "a", "a/", "a/10", "a/2", "ab", "b", "é"])
            #expect(try await store.keys(in: node, prefix: "") == ["Z", "a", "a/", "a/10", "a/2", "ab", "b", "é"])
            #expect(try await store.keys(in: node, prefix: "a/") == ["a/", "a/10", "a/2"])
            #expect(try await store.keys(in: node, prefix: "a") == ["a", "a/", "a/10", "a/2", "ab"])
            #expect(try await store.keys(in: node, prefix: "é") == ["é"])
            #expect(try await store.keys(in: node, prefix: "c") == [])
            #expect(try await store.keys(in: node, prefix: "a/100") == [])
        }
    }

    // MARK: Scopes

    @Test("the same key in different scopes is different keys", arguments: ContextStoreBackend.allCases)
    func scopesAreDisjoint(backend: ContextStoreBackend) async throws {
        let scopes: [ContextScope] = [
            .node(namespace: "default", node: "a"),
            .node(namespace: "default", node: "b"),
            .flow(namespace: "default", flow: "a"),
            .global(namespace: "default"),
            .node(namespace: "other", node: "a"),
            .flow(namespace: "other", flow: "a"),
            .global(namespace: "other"),
        ]
        try await backend.withStore { store in
            for (index, scope) in scopes.enumerated() { try await store.set("k", to: .integer(index), in: scope) }
            for (index, scope) in scopes.enumerated() {
                #expect(try await store.get("k", in: scope)?.value == .integer(index), "\(scope)")
                #expect(try await store.keys(in: scope) == ["k"], "\(scope)")
            }

            #expect(try await store.delete("k", in: scopes[0]) == true)
            #expect(try await store.increment("k", by: 10, in: scopes[1]) == 11)
            for (index, scope) in scopes.enumerated().dropFirst(2) {
                #expect(try await store.get("k", in: scope)?.value == .integer(index), "\(scope)")
            }
            #expect(try await store.get("k", in: scopes[0]) == nil)
        }
    }

    @Test("deleteAll removes every key of its scope and nothing else", arguments: ContextStoreBackend.allCases)
    func deleteAllRemovesOnlyItsScope(backend: ContextStoreBackend) async throws {
        let sibling = ContextScope.node(namespace: "default", node: "counter-2")
        let elsewhere = ContextScope.node(namespace: "other", node: "counter")
        try await backend.withStore { store in
            for key in ["a", "b", "c"] { try await store.set(key, to: 1, in: node) }
            for scope in [sibling, elsewhere, flow, global] { try await store.set("a", to: 2, in: scope) }

            #expect(try await store.deleteAll(in: node) == 3)
            #expect(try await store.keys(in: node) == [])
            #expect(try await store.get("a", in: node) == nil)
            for scope in [sibling, elsewhere, flow, global] {
                #expect(try await store.get("a", in: scope)?.value == 2, "\(scope)")
            }
            #expect(try await store.deleteAll(in: node) == 0)
            try await store.set("a", to: 3, in: node)
            #expect(try await store.get("a", in: node)?.value == 3)
        }
    }

    // MARK: Limits

    @Test("keys must be non-empty and at most maxKeyBytes UTF-8 bytes", arguments: ContextStoreBackend.allCases)
    func keyLimits(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let longest = String(repeating: "k", count: 254) + "é"  // 256 bytes
            let tooLong = String(repeating: "k", count: 255) + "é"  // 257 bytes
            try await store.set(longest, to: 1, in: node)
            #expect(try await store.get(longest, in: node)?.value == 1)

            for key in ["", tooLong] {
                try await expectInvalidKey { try await store.set(key, to: 1, in: node) }
                try await expectInvalidKey { _ = try await store.increment(key, by: 1, in: node, ttl: nil) }
                try await expectInvalidKey {
                    _ = try await store.compareAndSet(key, in: node, expecting: nil, to: 1, ttl: nil)
                }
            }
            #expect(try await store.keys(in: node) == [longest])
        }
    }

    @Test("a value whose JSON is larger than maxValueBytes is refused", arguments: ContextStoreBackend.allCases)
    func valueLimit(backend: ContextStoreBackend) async throws {
        try await backend.withStore(limits: ContextLimits(maxValueBytes: 16)) { store in
            let fits: JSONValue = "12345678901234"  // 16 bytes with its quotes
            let tooLarge: JSONValue = "123456789012345"  // 17 bytes
            try await store.set("k", to: fits, in: node)

            await #expect(throws: ContextStoreError.valueTooLarge(key: "k", bytes: 17, limit: 16)) {
                try await store.set("k", to: tooLarge, in: node)
            }
            let version = try #require(try await store.get("k", in: node)).version
            await #expect(throws: ContextStoreError.valueTooLarge(key: "k", bytes: 17, limit: 16)) {
                _ = try await store.compareAndSet("k", in: node, expecting: version, to: tooLarge, ttl: nil)
            }
            #expect(try await store.get("k", in: node)?.value == fits)
        }
    }

    @Test("the key after maxKeysPerScope new keys is refused, overwriting is not", arguments: ContextStoreBackend.allCases)
    func keysPerScopeLimit(backend: ContextStoreBackend) async throws {
        try await backend.withStore(limits: ContextLimits(maxKeysPerScope: 3)) { store in
            for key in ["a", "b", "c"] { try await store.set(key, to: 1, in: node) }
            let full = ContextStoreError.tooManyKeys(scope: node, limit: 3)

            await #expect(throws: full) { try await store.set("d", to: 1, in: node) }
            await #expect(throws: full) { _ = try await store.increment("d", by: 1, in: node, ttl: nil) }
            await #expect(throws: full) {
                _ = try await store.compareAndSet("d", in: node, expecting: nil, to: 1, ttl: nil)
            }
            #expect(try await store.keys(in: node) == ["a", "b", "c"])

            // Existing keys can still be written, and other scopes have their own limit.
            try await store.set("a", to: 2, in: node)
            #expect(try await store.increment("b", by: 1, in: node, ttl: nil) == 2)
            let c = try #require(try await store.get("c", in: node)).version
            guard case .written = try await store.compareAndSet("c", in: node, expecting: c, to: 3, ttl: nil) else {
                Issue.record("overwriting with compareAndSet in a full scope did not write")
                return
            }
            try await store.set("d", to: 1, in: flow)

            // A deleted key frees its place.
            try await store.delete("a", in: node)
            try await store.set("d", to: 1, in: node)
            #expect(try await store.keys(in: node) == ["b", "c", "d"])
        }
    }

    @Test("expired keys do not count against the key limit", arguments: ContextStoreBackend.allCases)
    func expiredKeysDoNotCount(backend: ContextStoreBackend) async throws {
        try await backend.withStore(limits: ContextLimits(maxKeysPerScope: 2)) { store in
            try await store.set("kept", to: 1, in: node)
            try await store.set("expiring", to: 1, in: node, ttl: shortTTL)
            try await eventually("the key expires") { try await store.get("expiring", in: node) == nil }

            try await store.set("new", to: 1, in: node)
            #expect(try await store.keys(in: node) == ["kept", "new"])
            await #expect(throws: ContextStoreError.tooManyKeys(scope: node, limit: 2)) {
                try await store.set("one more", to: 1, in: node)
            }
        }
    }

    // MARK: Time to live

    @Test("a key with a time to live reads as absent once it expired", arguments: ContextStoreBackend.allCases)
    func ttlExpiryForGetKeysAndDelete(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let before = Date()
            try await store.set("long", to: 1, in: node, ttl: longTTL)
            let after = Date()
            let long = try #require(try await store.get("long", in: node))
            let expiresAt = try #require(long.expiresAt)
            // Stamped when the write happened, somewhere between the call and its return (a
            // first write on a loaded machine can take seconds), give or take a second of clocks.
            #expect(expiresAt >= before.adding(longTTL).addingTimeInterval(-1), "\(expiresAt)")
            #expect(expiresAt <= after.adding(longTTL).addingTimeInterval(1), "\(expiresAt)")

            try await store.set("short", to: 1, in: node, ttl: shortTTL)
            try await eventually("the key expires") { try await store.get("short", in: node) == nil }
            #expect(try await store.keys(in: node) == ["long"])
            #expect(try await store.delete("short", in: node) == false)
            #expect(try await store.deleteAll(in: node) == 1)
        }
    }

    @Test("set replaces a key's time to live, and without one the key never expires", arguments: ContextStoreBackend.allCases)
    func setReplacesTTL(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            try await store.set("k", to: 1, in: node, ttl: shortTTL)
            try await store.set("k", to: 2, in: node)
            #expect(try await store.get("k", in: node)?.expiresAt == nil)

            try await store.set("k", to: 3, in: node, ttl: shortTTL)
            try await eventually("the key expires") { try await store.get("k", in: node) == nil }
        }
    }

    @Test("compareAndSet treats an expired key as absent", arguments: ContextStoreBackend.allCases)
    func ttlExpiryForCompareAndSet(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let version = try await store.set("k", to: "old", in: node, ttl: shortTTL)
            try await eventually("the key expires") { try await store.get("k", in: node) == nil }

            #expect(try await store.compareAndSet("k", in: node, expecting: version, to: "new", ttl: nil)
                == .conflict(current: nil))
            let outcome = try await store.compareAndSet("k", in: node, expecting: nil, to: "new", ttl: nil)
            guard case .written(let newVersion?) = outcome else { Issue.record("expected a write, got \(outcome)"); return }
            #expect(newVersion > version)
            let entry = try #require(try await store.get("k", in: node))
            #expect(entry.value == "new" && entry.version == newVersion && entry.expiresAt == nil)
        }
    }

    @Test("increment treats an expired key as absent and starts a new window", arguments: ContextStoreBackend.allCases)
    func ttlExpiryForIncrement(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.increment("hits", by: 5, in: node, ttl: shortTTL) == 5)
            try await eventually("the counter expires") { try await store.get("hits", in: node) == nil }
            #expect(try await store.increment("hits", by: 1, in: node, ttl: longTTL) == 1)
            #expect(try await store.get("hits", in: node)?.expiresAt != nil)
        }
    }

    @Test("increment keeps an existing key's expiry: a fixed window", arguments: ContextStoreBackend.allCases)
    func incrementKeepsExpiry(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.increment("window", by: 1, in: node, ttl: longTTL) == 1)
            let first = try #require(try await store.get("window", in: node)?.expiresAt)
            #expect(try await store.increment("window", by: 1, in: node, ttl: longTTL * 2) == 2)
            #expect(try await store.increment("window", by: 1, in: node, ttl: nil) == 3)
            #expect(try await store.get("window", in: node)?.expiresAt == first)

            try await store.set("forever", to: 1, in: node)
            #expect(try await store.increment("forever", by: 1, in: node, ttl: longTTL) == 2)
            #expect(try await store.get("forever", in: node)?.expiresAt == nil)
        }
    }

    // MARK: Compare and set

    @Test("compareAndSet expecting nil writes only an absent key", arguments: ContextStoreBackend.allCases)
    func compareAndSetCreates(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let outcome = try await store.compareAndSet("k", in: node, expecting: nil, to: "first", ttl: longTTL)
            guard case .written(let version?) = outcome else { Issue.record("expected a write, got \(outcome)"); return }
            let entry = try #require(try await store.get("k", in: node))
            #expect(entry.value == "first" && entry.version == version && entry.expiresAt != nil)

            #expect(try await store.compareAndSet("k", in: node, expecting: nil, to: "second", ttl: nil)
                == .conflict(current: entry))
            #expect(try await store.get("k", in: node) == entry)
        }
    }

    @Test("compareAndSet with a stale version conflicts and returns what is stored", arguments: ContextStoreBackend.allCases)
    func compareAndSetConflicts(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let stale = try await store.set("k", to: 1, in: node)
            let fresh = try await store.set("k", to: 2, in: node)
            #expect(try await store.compareAndSet("k", in: node, expecting: stale, to: 3, ttl: nil)
                == .conflict(current: ContextEntry(value: 2, version: fresh)))
            #expect(try await store.compareAndSet("k", in: node, expecting: stale, to: nil, ttl: nil)
                == .conflict(current: ContextEntry(value: 2, version: fresh)))
            #expect(try await store.compareAndSet("absent", in: node, expecting: fresh, to: 3, ttl: nil)
                == .conflict(current: nil))
            #expect(try await store.get("k", in: node)?.value == 2)
        }
    }

    @Test("compareAndSet with the current version writes, with a nil value deletes", arguments: ContextStoreBackend.allCases)
    func compareAndSetWritesAndDeletes(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let version = try await store.set("k", to: 1, in: node)
            let outcome = try await store.compareAndSet("k", in: node, expecting: version, to: 2, ttl: nil)
            guard case .written(let next?) = outcome else { Issue.record("expected a write, got \(outcome)"); return }
            #expect(next > version)
            #expect(try await store.get("k", in: node) == ContextEntry(value: 2, version: next))

            #expect(try await store.compareAndSet("k", in: node, expecting: next, to: nil, ttl: nil)
                == .written(version: nil))
            #expect(try await store.get("k", in: node) == nil)
            #expect(try await store.compareAndSet("k", in: node, expecting: nil, to: nil, ttl: nil)
                == .written(version: nil))
        }
    }

    @Test("a key deleted and written again never repeats a version (no ABA)", arguments: ContextStoreBackend.allCases)
    func noABA(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let first = try await store.set("k", to: "same", in: node)
            try await store.delete("k", in: node)
            let second = try await store.set("k", to: "same", in: node)
            #expect(second > first)
            #expect(try await store.compareAndSet("k", in: node, expecting: first, to: "stolen", ttl: nil)
                == .conflict(current: ContextEntry(value: "same", version: second)))

            // The newest version deleted, then the key written again.
            #expect(try await store.compareAndSet("k", in: node, expecting: second, to: nil, ttl: nil)
                == .written(version: nil))
            let third = try await store.set("k", to: "same", in: node)
            #expect(third > second)

            try await store.deleteAll(in: node)
            let fourth = try await store.increment("k", by: 1, in: node, ttl: nil)
            #expect(fourth == 1)
            #expect(try #require(try await store.get("k", in: node)).version > third)
        }
    }

    // MARK: Increment

    @Test("increment counts from zero for an absent key and returns the sum", arguments: ContextStoreBackend.allCases)
    func incrementCounts(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.increment("n", by: 5, in: node, ttl: nil) == 5)
            let five = try #require(try await store.get("n", in: node))
            #expect(five.value == .integer(5) && five.expiresAt == nil)
            #expect(try await store.increment("n", by: -7, in: node, ttl: nil) == -2)
            #expect(try await store.increment("n", in: node) == -1)
            let entry = try #require(try await store.get("n", in: node))
            #expect(entry.value == .integer(-1))
            #expect(entry.version > five.version)

            try await store.set("m", to: 40, in: node)
            #expect(try await store.increment("m", by: 2, in: node, ttl: nil) == 42)
        }
    }

    @Test("increment refuses a value that is not an integer", arguments: ContextStoreBackend.allCases)
    func incrementNotAnInteger(backend: ContextStoreBackend) async throws {
        let values: [(JSONValue, String)] = [
            ("7", "string"), (2.5, "number"), (true, "boolean"), (nil, "null"), ([1], "array"), (["n": 1], "object"),
        ]
        try await backend.withStore { store in
            for (value, typeName) in values {
                try await store.set("k", to: value, in: node)
                await #expect(throws: ContextStoreError.notAnInteger(key: "k", found: typeName)) {
                    _ = try await store.increment("k", by: 1, in: node, ttl: nil)
                }
                #expect(try await store.get("k", in: node)?.value == value)
            }
        }
    }

    @Test("increment refuses to overflow a 64-bit integer", arguments: ContextStoreBackend.allCases)
    func incrementOverflow(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            try await store.set("high", to: .integer(.max - 1), in: node)
            #expect(try await store.increment("high", by: 1, in: node, ttl: nil) == .max)
            await #expect(throws: ContextStoreError.overflow(key: "high")) {
                _ = try await store.increment("high", by: 1, in: node, ttl: nil)
            }
            #expect(try await store.get("high", in: node)?.value == .integer(.max))

            try await store.set("low", to: .integer(.min), in: node)
            await #expect(throws: ContextStoreError.overflow(key: "low")) {
                _ = try await store.increment("low", by: -1, in: node, ttl: nil)
            }
        }
    }

    @Test("NaN and infinity are refused with the path of the number; a NUL in a key is refused", arguments: ContextStoreBackend.allCases)
    func unrepresentableValues(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            do {
                try await store.set("reading", to: ["sensor": ["values": [1.5, .number(.nan)]]], in: node, ttl: nil)
                Issue.record("NaN was stored")
            } catch let error as ContextStoreError {
                #expect(error.description.contains(".sensor.values[1] is not a finite number"), "\(error)")
            }
            await #expect(throws: ContextStoreError.self) {
                _ = try await store.compareAndSet("inf", in: node, expecting: nil, to: .number(.infinity), ttl: nil)
            }
            await #expect(throws: ContextStoreError.self) {
                try await store.set("a\u{0}b", to: 1, in: node, ttl: nil)
            }
            #expect(try await store.keys(in: node).isEmpty)
        }
    }

    // MARK: Contention

    @Test("update is atomic under contention: 8 tasks × 200 updates add up", arguments: ContextStoreBackend.allCases)
    func updateUnderContention(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            let (written, starved) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var (written, starved) = (0, 0)
                        for _ in 0..<200 {
                            do {
                                try await store.update("total", in: node) { old in .integer((old?.intValue ?? 0) + 1) }
                                written += 1
                            } catch ContextStoreError.conflict {
                                starved += 1
                            }
                        }
                        return (written, starved)
                    }
                }
                return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            }
            // No update is lost or applied twice, and no writer starves: memory and SQLite run
            // the transform under their lock, PostgreSQL under a row lock (SELECT … FOR UPDATE).
            #expect(try await store.get("total", in: node)?.value == .integer(written))
            #expect(starved == 0)
            #expect(written == 1_600)
        }
    }

    @Test("increment is atomic under contention: 8 tasks × 200 increments add up", arguments: ContextStoreBackend.allCases)
    func incrementUnderContention(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<200 { _ = try await store.increment("total", in: node) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.get("total", in: node)?.value == 1_600)
        }
    }

    @Test("update deletes the key when the transform returns nil", arguments: ContextStoreBackend.allCases)
    func updateDeletes(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store async throws in
            #expect(try await store.update("k", in: node) { old in old == nil ? "created" : nil } == "created")
            #expect(try await store.get("k", in: node)?.value == "created")
            #expect(try await store.update("k", in: node) { old in old == nil ? "created" : nil } == nil)
            #expect(try await store.get("k", in: node) == nil)
        }
    }

    @Test("a store that is open reports itself available", arguments: ContextStoreBackend.allCases)
    func available(backend: ContextStoreBackend) async throws {
        try await backend.withStore { store in
            try await store.checkAvailability()
        }
    }
}

/// What only the SQLite backend promises: a file that outlives its store and is shared by
/// several stores (processes) at once.
@Suite("SQLite context store", .timeLimit(.minutes(1)))
struct SQLiteContextStoreTests {
    @Test("data survives closing and reopening the file, and versions keep increasing")
    func survivesReopening() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let first = try SQLiteContextStore(path: path)
        let version = try await first.set("k", to: ["a": [1, 2]], in: node, ttl: longTTL)
        #expect(try await first.increment("n", by: 3, in: flow, ttl: nil) == 3)
        let before = try #require(try await first.get("k", in: node))
        try await first.delete("n", in: flow)
        await first.close()

        let second = try SQLiteContextStore(path: path)
        #expect(try await second.get("k", in: node) == before)
        #expect(before.version == version)
        #expect(try await second.keys(in: flow) == [])
        #expect(try await second.increment("n", by: 1, in: flow, ttl: nil) == 1)
        #expect(try #require(try await second.get("n", in: flow)).version > version + 1)
        await second.close()
    }

    @Test("two stores on one file increment one key concurrently to the exact sum")
    func twoStoresShareOneFile() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let stores = [try SQLiteContextStore(path: path), try SQLiteContextStore(path: path)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<250 { _ = try await store.increment("total", in: global) }
                    }
                }
            }
            try await group.waitForAll()
        }
        for store in stores {
            #expect(try await store.get("total", in: global)?.value == 2_000)
        }
        for store in stores { await store.close() }
    }

    @Test("two stores on one file draw versions from one sequence (no ABA across processes)")
    func versionsSharedAcrossStores() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let a = try SQLiteContextStore(path: path)
        let b = try SQLiteContextStore(path: path)
        let first = try await a.set("k", to: 1, in: node)
        #expect(try await b.delete("k", in: node))
        let second = try await b.set("k", to: 1, in: node)
        #expect(second > first)
        #expect(try await a.compareAndSet("k", in: node, expecting: first, to: 2, ttl: nil)
            == .conflict(current: ContextEntry(value: 1, version: second)))
        #expect(try await a.compareAndSet("k", in: node, expecting: second, to: 2, ttl: nil) != .conflict(current: nil))
        #expect(try await b.get("k", in: node)?.value == 2)
        await a.close()
        await b.close()
    }

    @Test("its update runs in one transaction: 2 stores × 4 tasks × 200 updates on one file add up, none starved")
    func updateAcrossStores() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let stores = [try SQLiteContextStore(path: path), try SQLiteContextStore(path: path)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<200 {
                            // SQLiteContextStore.update runs in one transaction: it never conflicts.
                            try await store.update("total", in: node, ttl: nil) { .integer(($0?.intValue ?? 0) + 1) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await stores[1].get("total", in: node)?.value == 1_600)

        // The transform's nil deletes, its value is checked against the limits, its error rolls back.
        #expect(try await stores[0].update("total", in: node) { _ in nil } == nil)
        #expect(try await stores[1].get("total", in: node) == nil)
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await stores[0].update("k", in: node) { _ in throw Refused() }
        }
        await #expect(throws: ContextStoreError.self) {
            try await stores[0].update("", in: node) { _ in 1 }
        }
        #expect(try await stores[0].keys(in: node) == [])
        for store in stores { await store.close() }
    }

    @Test("a file that cannot be created is reported with its path")
    func unopenableFile() async throws {
        let blocker = temporaryDatabasePath()
        defer { removeDatabase(at: blocker) }
        try FileManager.default.createDirectory(
            atPath: (blocker as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("not a directory".utf8)))
        let path = blocker + "/context.db"

        let error = #expect(throws: ContextStoreError.self) { try SQLiteContextStore(path: path) }
        guard case .unavailable(let store, _)? = error else { Issue.record("expected unavailable, got \(String(describing: error))"); return }
        #expect(store == "sqlite:\(path)")
        #expect(error?.description.contains(path) == true)
    }

    @Test("a file that is not a database is reported, not overwritten")
    func notADatabase() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x42, count: 4096)
        #expect(FileManager.default.createFile(atPath: path, contents: garbage))

        let error = #expect(throws: ContextStoreError.self) { try SQLiteContextStore(path: path) }
        guard case .unavailable(let store, _)? = error else { Issue.record("expected unavailable, got \(String(describing: error))"); return }
        #expect(store == "sqlite:\(path)")
        #expect(FileManager.default.contents(atPath: path) == garbage)
    }

    @Test("a closed store refuses operations as unavailable")
    func closedStore() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteContextStore(path: path)
        try await store.set("k", to: 1, in: node)
        await store.close()
        await #expect(throws: ContextStoreError.unavailable(store: "sqlite:\(path)", reason: "the store is closed")) {
            _ = try await store.get("k", in: node)
        }
        await #expect(throws: ContextStoreError.unavailable(store: "sqlite:\(path)", reason: "the store is closed")) {
            try await store.set("k", to: 1, in: node)
        }
        await #expect(throws: ContextStoreError.self) { try await store.checkAvailability() }
        await store.close()
    }

    @Test("a write waits for another process's write lock without holding a thread: reads and other tasks go on, the write completes once the lock is released")
    func writeWaitsForLockAsynchronously() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteContextStore(path: path)
        try await store.set("k", to: 1, in: node)
        // Another process's connection to the file, holding its write lock.
        let other = try SQLiteDatabase(path: path, fsync: false)
        try other.execute("BEGIN IMMEDIATE")

        // More waiting writes than the machine has cores: had each held its thread while it waits,
        // the concurrency pool would be frozen.
        let writers = ProcessInfo.processInfo.activeProcessorCount + 2
        let finished = Counter()
        let writes = (0..<writers).map { index in
            Task {
                try await store.set("w\(index)", to: .integer(index), in: node)
                finished.count.add(1, ordering: .relaxed)
            }
        }
        let update = Task {
            var runs = 0
            let written = try await store.update("k", in: node, ttl: nil) { old in
                runs += 1
                return .integer((old?.intValue ?? 0) + 1)
            }
            finished.count.add(1, ordering: .relaxed)
            return (written, runs)
        }
        try await Task.sleep(for: .milliseconds(200))

        // Meanwhile: a read of the same store and a plain task complete, while every write still waits.
        #expect(try await store.get("k", in: node)?.value == 1)
        #expect(await Task { 6 * 7 }.value == 42)
        #expect(finished.count.load(ordering: .relaxed) == 0)

        try other.execute("COMMIT")
        for write in writes { try await write.value }
        let (written, runs) = try await update.value
        #expect(written == 2)
        #expect(runs == 1, "the transform runs once, after the lock was released")
        #expect(try await store.keys(in: node).count == writers + 1)
        await store.close()
    }

    @Test("a write against a write lock that is never released fails as unavailable, naming the lock, after the operation timeout")
    func writeGivesUpAfterTimeout() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let timeout = Duration.milliseconds(300)
        let store = try SQLiteContextStore(path: path, operationTimeout: timeout)
        try await store.set("k", to: 1, in: node)
        let other = try SQLiteDatabase(path: path, fsync: false)
        try other.execute("BEGIN IMMEDIATE")

        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: ContextStoreError.self) { try await store.set("k", to: 2, in: node) }
        let elapsed = start.duration(to: clock.now)
        guard case .unavailable(let name, let reason)? = error else {
            Issue.record("expected unavailable, got \(String(describing: error))")
            return
        }
        #expect(name == "sqlite:\(path)")
        #expect(reason.contains("locked by another process for 300 ms"), "\(reason)")
        #expect(elapsed >= timeout)
        // Gives up rather than hangs: the bound is loose because CI runs many suites at once.
        #expect(elapsed < timeout + .seconds(5), "gave up after \(elapsed)")

        // An update gives up the same way without running its transform: it never got the lock.
        var runs = 0
        await #expect(throws: ContextStoreError.self) {
            try await store.update("k", in: node, ttl: nil) { _ in runs += 1; return 3 }
        }
        #expect(runs == 0)

        try other.execute("ROLLBACK")
        #expect(try await store.get("k", in: node)?.value == 1)
        try await store.set("k", to: 4, in: node)
        await store.close()
    }

    @Test("cancelling a write that waits for another process's write lock throws CancellationError")
    func cancelledWait() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteContextStore(path: path)
        let other = try SQLiteDatabase(path: path, fsync: false)
        try other.execute("BEGIN IMMEDIATE")
        let write = Task { try await store.set("k", to: 1, in: node) }
        try await Task.sleep(for: .milliseconds(100))
        write.cancel()
        await #expect(throws: CancellationError.self) { try await write.value }
        try other.execute("ROLLBACK")
        #expect(try await store.get("k", in: node) == nil)
        await store.close()
    }

    /// How many of the test's tasks finished.
    private final class Counter: Sendable {
        let count = Atomic<Int>(0)
    }

    private func removeDatabase(at path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

/// Expects `body` to throw ``ContextStoreError/invalidKey(key:reason:)``.
private func expectInvalidKey(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async throws {
    let error = await #expect(throws: ContextStoreError.self, sourceLocation: sourceLocation) { try await body() }
    guard case .invalidKey? = error else {
        Issue.record("expected invalidKey, got \(String(describing: error))", sourceLocation: sourceLocation)
        return
    }
}
