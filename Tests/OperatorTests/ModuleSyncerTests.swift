@testable import Operator
import Synchronization
import TestSupport
import Testing

@Suite("Batching module syncs", .timeLimit(.minutes(2)))
struct ModuleSyncerTests {
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
        let syncer = ModuleSyncer(window: .milliseconds(20)) { _, _ in
            let index = log.calls.withLock { calls in
                calls.append((.now, nil))
                return calls.count - 1
            }
            try? await Task.sleep(for: .milliseconds(index == 0 ? 300 : 1))
            log.calls.withLock { $0[index].end = .now }
        }
        for _ in 0..<100 { await syncer.schedule(key) }
        try await eventually("the first sync to start") { log.count == 1 }
        for _ in 0..<100 { await syncer.schedule(key) }  // while it runs
        try await eventually("two syncs to finish") { log.finished == 2 }
        let calls = log.calls.withLock { $0 }
        #expect(calls.count == 2)
        // The window after a 300 ms sync stretched to its duration.
        if calls.count == 2, let firstEnd = calls[0].end {
            #expect(calls[1].start - firstEnd >= .milliseconds(300))
        }
        await syncer.shutdown()
    }

    @Test("syncNow returns after a sync that started after the call")
    func syncNow() async throws {
        let log = Log()
        let key = ModuleKey(namespace: "default", module: "common")
        let syncer = ModuleSyncer(window: .milliseconds(1)) { _, force in
            #expect(force)
            log.calls.withLock { $0.append((.now, .now)) }
        }
        let asked = ContinuousClock.now
        await syncer.syncNow(key)
        let calls = log.calls.withLock { $0 }
        #expect(calls.count == 1)
        #expect((calls.first?.start ?? asked) > asked)
        await syncer.shutdown()
    }

    @Test("a forgotten module's entry goes once its sync is over, and at once when idle")
    func forget() async throws {
        let key = ModuleKey(namespace: "default", module: "gone")
        let box = Mutex<ModuleSyncer?>(nil)
        let syncer = ModuleSyncer(window: .milliseconds(1)) { key, _ in
            // Forgotten while its sync runs, as the operator does for a module that is gone.
            await box.withLock { $0 }?.forget(key)
        }
        box.withLock { $0 = syncer }
        await syncer.syncNow(key)
        try await eventually("the entry dropped after the sync") { await syncer.count == 0 }

        let idle = ModuleSyncer(window: .milliseconds(1)) { _, _ in }
        await idle.syncNow(key)
        #expect(await idle.count == 1)
        await idle.forget(key)
        #expect(await idle.count == 0)
        await syncer.shutdown()
        await idle.shutdown()
    }
}
