@testable import Operator
import Synchronization
import TestSupport
import Testing

/// Runs `queue` for the duration of `body`, then shuts it down.
private func withRunning<T: Sendable>(_ queue: ModuleSyncQueue, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await queue.run() }
    defer { task.cancel() }
    let result = try await body()
    queue.shutdown()
    _ = await task.result
    return result
}

@Suite("Batching module syncs", .timeLimit(.minutes(2)))
struct ModuleSyncQueueTests {
    /// Records when each sync started and ended.
    final class Log: Sendable {
        let calls = Mutex<[(start: ContinuousClock.Instant, end: ContinuousClock.Instant?)]>([])
        var count: Int { calls.withLock { $0.count } }
        var finished: Int { calls.withLock { $0.filter { $0.end != nil }.count } }
    }

    @Test("a burst of requests is one sync; requests during a sync are one more, a window after it")
    func batching() async throws {
        let log = Log()
        let key = ModuleKey(namespace: "default", module: "common")
        let queue = ModuleSyncQueue(window: .milliseconds(20)) { _, _ in
            let index = log.calls.withLock { calls in
                calls.append((.now, nil))
                return calls.count - 1
            }
            try? await Task.sleep(for: .milliseconds(index == 0 ? 300 : 1))
            log.calls.withLock { $0[index].end = .now }
            return .done
        }
        try await withRunning(queue) {
            for _ in 0..<100 { queue.schedule(key) }
            try await eventually("the first sync to start") { log.count == 1 }
            for _ in 0..<100 { queue.schedule(key) }  // while it runs
            try await eventually("two syncs to finish") { log.finished == 2 }
        }
        let calls = log.calls.withLock { $0 }
        #expect(calls.count == 2)
        // The window after a 300 ms sync stretched to its duration.
        if calls.count == 2, let firstEnd = calls[0].end {
            #expect(calls[1].start - firstEnd >= .milliseconds(300))
        }
    }

    @Test("syncNow returns after a sync that started after the call")
    func syncNow() async throws {
        let log = Log()
        let key = ModuleKey(namespace: "default", module: "common")
        let queue = ModuleSyncQueue(window: .milliseconds(1)) { _, force in
            #expect(force)
            log.calls.withLock { $0.append((.now, .now)) }
            return .done
        }
        try await withRunning(queue) {
            let asked = ContinuousClock.now
            await queue.syncNow(key)
            let calls = log.calls.withLock { $0 }
            #expect(calls.count == 1)
            #expect((calls.first?.start ?? asked) > asked)
        }
    }

    @Test("a failed sync is tried again after the delay it asks for")
    func retryAfterFailure() async throws {
        let log = Log()
        let key = ModuleKey(namespace: "default", module: "common")
        let queue = ModuleSyncQueue(window: .milliseconds(1)) { _, _ in
            let count = log.calls.withLock { calls in
                calls.append((.now, .now))
                return calls.count
            }
            return count == 1 ? .retry(after: .milliseconds(200)) : .done
        }
        try await withRunning(queue) {
            queue.schedule(key)
            try await eventually("the retry") { log.count == 2 }
        }
        let calls = log.calls.withLock { $0 }
        #expect(calls.count == 2)
        if calls.count == 2 { #expect(calls[1].start - calls[0].start >= .milliseconds(200)) }
    }

    @Test("a forgotten module's entry goes once its sync is over, and at once when idle")
    func forget() async throws {
        let key = ModuleKey(namespace: "default", module: "gone")
        let box = Mutex<ModuleSyncQueue?>(nil)
        let queue = ModuleSyncQueue(window: .milliseconds(1)) { key, _ in
            // Forgotten while its sync runs, as the operator does for a module that is gone.
            box.withLock { $0 }?.forget(key)
            return .done
        }
        box.withLock { $0 = queue }
        let idle = ModuleSyncQueue(window: .milliseconds(1)) { _, _ in .done }
        try await withRunning(queue) {
            await queue.syncNow(key)
            try await eventually("the entry dropped after the sync") { queue.count == 0 }
        }
        try await withRunning(idle) {
            await idle.syncNow(key)
            #expect(idle.count == 1)
            idle.forget(key)
            #expect(idle.count == 0)
        }
    }

    @Test("shutting down releases a waiting syncNow")
    func shutdownReleasesWaiters() async throws {
        let key = ModuleKey(namespace: "default", module: "common")
        let queue = ModuleSyncQueue(window: .seconds(3600)) { _, _ in .done }
        let task = Task { try await queue.run() }
        async let waited: Void = queue.syncNow(key)
        try await eventually("the waiter registered") { queue.count == 1 }
        queue.shutdown()
        await waited
        task.cancel()
        _ = await task.result
    }
}
