import Foundation
import KubernetesClient
import KubernetesModels
@testable import KubernetesRuntime
import Testing

func cm(_ name: String, rv: String, generation: Int64? = nil) -> ConfigMap {
    var object = ConfigMap(metadata: ObjectMeta(name: name, namespace: "default"))
    object.metadata.resourceVersion = rv
    object.metadata.generation = generation
    return object
}

func page(_ items: [ConfigMap], rv: String, continue token: String? = nil) -> KubernetesList<ConfigMap> {
    KubernetesList(metadata: ListMeta(resourceVersion: rv, continue: token), items: items)
}

@Suite("Watcher state machine (no network)")
struct WatcherStateMachineTests {
    @Test("empty lists, pages accumulate, the last page restarts at the first page's version, then watches")
    func listThenWatch() {
        var machine = WatcherStateMachine<ConfigMap>()
        #expect(machine.nextAction() == .list(continueToken: nil))
        #expect(machine.listPageReceived(page([cm("a", rv: "1")], rv: "10", continue: "t1")) == nil)
        #expect(machine.nextAction() == .list(continueToken: "t1"))
        guard case .restarted(let all) = machine.listPageReceived(page([cm("b", rv: "2")], rv: "11")) else {
            Issue.record("expected restarted")
            return
        }
        #expect(all.map(\.metadata.name) == ["a", "b"])
        #expect(machine.nextAction() == .watch(resourceVersion: "10"))
        machine.watchStarted()
        #expect(machine.nextAction() == .readWatch)
    }

    @Test("events advance the resourceVersion; bookmarks too, without output")
    func eventsAdvance() {
        var machine = WatcherStateMachine<ConfigMap>()
        _ = machine.listPageReceived(page([], rv: "5"))
        machine.watchStarted()
        guard case .applied(let object) = machine.watchEventReceived(.added(cm("a", rv: "6"))) else {
            Issue.record("expected applied")
            return
        }
        #expect(object.metadata.name == "a")
        #expect(machine.watchEventReceived(.bookmark(resourceVersion: "8")) == nil)
        #expect(machine.resourceVersion == "8")
        guard case .deleted = machine.watchEventReceived(.deleted(cm("a", rv: "9"))) else {
            Issue.record("expected deleted")
            return
        }
        machine.watchEnded()
        #expect(machine.nextAction() == .watch(resourceVersion: "9"))
    }

    @Test("a 410 ERROR event or a 410 answer relists; other failures resume from the last version")
    func goneRelists() {
        var machine = WatcherStateMachine<ConfigMap>()
        _ = machine.listPageReceived(page([], rv: "5"))
        machine.watchStarted()
        _ = machine.watchEventReceived(.modified(cm("a", rv: "7")))
        machine.failed(KubernetesError(verb: .watch, resource: "configmaps", code: 500))
        #expect(machine.nextAction() == .watch(resourceVersion: "7"))
        machine.failed(KubernetesError(verb: .watch, resource: "configmaps", code: 410))
        #expect(machine.nextAction() == .list(continueToken: nil))
        _ = machine.listPageReceived(page([], rv: "20"))
        machine.watchStarted()
        _ = machine.watchEventReceived(.error(Status(reason: "Expired", code: 410)))
        #expect(machine.nextAction() == .list(continueToken: nil))
    }

    @Test("a failed page restarts the list from the first page")
    func failedPage() {
        var machine = WatcherStateMachine<ConfigMap>()
        _ = machine.listPageReceived(page([cm("a", rv: "1")], rv: "10", continue: "t1"))
        machine.failed(KubernetesError(verb: .list, resource: "configmaps", code: 410))
        #expect(machine.nextAction() == .list(continueToken: nil))
    }
}

extension WatcherEvent: Equatable where K == ConfigMap {
    public static func == (lhs: WatcherEvent<ConfigMap>, rhs: WatcherEvent<ConfigMap>) -> Bool {
        switch (lhs, rhs) {
        case (.restarted(let a), .restarted(let b)): a == b
        case (.applied(let a), .applied(let b)), (.deleted(let a), .deleted(let b)): a == b
        default: false
        }
    }
}

@Suite("Reflector store", .timeLimit(.minutes(2)))
struct StoreTests {
    @Test("a relist replaces the contents at once and reports deletions of vanished objects")
    func relistSwaps() {
        let store = Store<ConfigMap>()
        store.apply(.restarted([cm("a", rv: "1"), cm("b", rv: "2")]))
        #expect(store.isReady)
        let changes = store.apply(.restarted([cm("b", rv: "3"), cm("c", rv: "4")]))
        #expect(Set(store.keys.map(\.name)) == ["b", "c"])
        let deleted = changes.filter { $0.new == nil }.map(\.key.name)
        #expect(deleted == ["a"])
        #expect(changes.first { $0.key.name == "b" }?.old?.metadata.resourceVersion == "2")
    }

    @Test("indexes follow modifications and deletions")
    func indexes() {
        let store = Store<ConfigMap>(indexers: ["module": { [$0.data?["module"] ?? ""] }])
        var a = cm("a", rv: "1")
        a.data = ["module": "common"]
        var b = cm("b", rv: "2")
        b.data = ["module": "http"]
        store.apply(.restarted([a, b]))
        #expect(store.byIndex("module", "common").map(\.metadata.name) == ["a"])
        a.data = ["module": "http"]
        store.apply(.applied(a))
        #expect(store.byIndex("module", "common").isEmpty)
        #expect(Set(store.byIndex("module", "http").compactMap(\.metadata.name)) == ["a", "b"])
        store.apply(.deleted(b))
        #expect(store.byIndex("module", "http").map(\.metadata.name) == ["a"])
        let (http, common) = (store.keys(where: { $0.data?["module"] == "http" }), store.keys(where: { $0.data?["module"] == "common" }))
        #expect(http.map(\.name) == ["a"], "a scan sees what the index sees")
        #expect(common.isEmpty)
    }

    @Test("a transform shapes what is cached, on lists, updates and deletions alike")
    func transform() {
        let store = Store<ConfigMap>(transform: { object in
            var object = object
            object.data?["bulky"] = nil
            return object
        })
        var a = cm("a", rv: "1")
        a.data = ["bulky": String(repeating: "x", count: 1000), "kept": "yes"]
        store.apply(.restarted([a]))
        #expect(store.get(ObjectKey(a))?.data == ["kept": "yes"])
        a.metadata.resourceVersion = "2"
        let changes = store.apply(.applied(a))
        #expect(changes.first?.new?.data == ["kept": "yes"], "predicates and reconcilers see the cached form")
        #expect(changes.first?.old?.data == ["kept": "yes"])
        let deleted = store.apply(.deleted(a))
        #expect(deleted.first?.old?.data == ["kept": "yes"])
        #expect(store.count == 0)
    }

    @Test("waitUntilReady returns after the first list")
    func ready() async {
        let store = Store<ConfigMap>()
        async let waited: Void = store.waitUntilReady()
        store.apply(.restarted([]))
        await waited
        #expect(store.isReady)
    }
}

@Suite("Work queue state machine")
struct WorkQueueStateMachineTests {
    let t0 = ContinuousClock.now

    @Test("a key added many times is queued once")
    func deduplicates() {
        var machine = WorkQueueStateMachine<String>()
        machine.add("a")
        machine.add("a")
        machine.add("b")
        #expect(machine.depth == 2)
        #expect(machine.next() == "a")
        #expect(machine.next() == "b")
        #expect(machine.next() == nil)
    }

    @Test("a drained queue keeps no tables sized for the keys it once held")
    func releasesStorage() {
        var machine = WorkQueueStateMachine<String>()
        let keys = (0..<5_000).map { "key-\($0)" }
        for key in keys { machine.add(key) }
        for key in keys { machine.add("later-" + key, after: .seconds(1), now: t0) }
        var handedOut: [String] = []
        while let key = machine.next() { handedOut.append(key) }
        #expect(machine.dirty.capacity == 0 && machine.queue.isEmpty)
        #expect(machine.processing.count == 5_000)
        for key in handedOut {
            _ = machine.nextBackoff(key, now: t0)
            machine.forget(key)
            machine.done(key)
        }
        #expect(machine.processing.capacity == 0)
        #expect(machine.failures.capacity == 0)
        #expect(machine.promoteDue(now: t0 + .seconds(2)) == 5_000, "the delayed adds still come due")
        while let key = machine.next() { machine.done(key) }
        #expect(machine.delayed.capacity == 0 && machine.dirty.capacity == 0 && machine.processing.capacity == 0)
    }

    @Test("a key added while being processed is handed out again only after done")
    func neverTwiceAtOnce() {
        var machine = WorkQueueStateMachine<String>()
        machine.add("a")
        #expect(machine.next() == "a")
        machine.add("a")
        #expect(machine.next() == nil)
        let requeued = machine.done("a")
        #expect(requeued)
        #expect(machine.next() == "a")
        let requeuedAgain = machine.done("a")
        #expect(!requeuedAgain)
    }

    @Test("per-key backoff doubles from 5 ms and is capped at 1000 s")
    func backoff() {
        var machine = WorkQueueStateMachine<String>(rate: 1e9, burst: 1_000_000)
        let delays = (0..<5).map { _ in machine.nextBackoff("a", now: t0) }
        #expect(delays == [.milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(40), .milliseconds(80)])
        for _ in 0..<40 { _ = machine.nextBackoff("a", now: t0) }
        #expect(machine.nextBackoff("a", now: t0) == .seconds(1000))
        #expect(machine.nextBackoff("b", now: t0) == .milliseconds(5))
        machine.forget("a")
        #expect(machine.nextBackoff("a", now: t0) == .milliseconds(5))
    }

    @Test("the overall token bucket delays retries beyond its burst")
    func bucket() {
        var machine = WorkQueueStateMachine<Int>(rate: 10, burst: 2)
        #expect(machine.nextBackoff(1, now: t0) == .milliseconds(5))
        #expect(machine.nextBackoff(2, now: t0) == .milliseconds(5))
        #expect(machine.nextBackoff(3, now: t0) == .milliseconds(100))
        #expect(machine.nextBackoff(4, now: t0) == .milliseconds(200))
    }

    @Test("delayed keys become ready at their time; the earliest pending time wins; an immediate add supersedes")
    func delayed() {
        var machine = WorkQueueStateMachine<String>()
        machine.add("a", after: .seconds(10), now: t0)
        machine.add("a", after: .seconds(1), now: t0)
        #expect(machine.nextDeadline == t0 + .seconds(1))
        #expect(machine.promoteDue(now: t0 + .milliseconds(500)) == 0)
        #expect(machine.promoteDue(now: t0 + .seconds(1)) == 1)
        #expect(machine.next() == "a")
        machine.add("b", after: .seconds(5), now: t0)
        machine.add("b")
        #expect(machine.waiting == 0)
        #expect(machine.next() == "b")
    }

    @Test("many delayed keys come out in the order of their times, superseded times never")
    func delayedOrder() {
        var machine = WorkQueueStateMachine<Int>()
        let times = (0..<1_000).map { ($0 * 7_919) % 1_000 }  // a permutation of 0..<1000
        for (key, time) in times.enumerated() { machine.add(key, after: .milliseconds(time + 1), now: t0) }
        machine.add(0, after: .milliseconds(1), now: t0)  // earlier than its first time: wins
        machine.add(1)  // now: its delayed time is dropped
        #expect(machine.waiting == 999)
        #expect(machine.nextDeadline == t0 + .milliseconds(1))
        var order: [Int] = []
        while let key = machine.next() { order.append(key) }
        #expect(order == [1])
        for step in 1...1_001 {
            machine.promoteDue(now: t0 + .milliseconds(step))
            while let key = machine.next() { order.append(key) }
        }
        #expect(order.count == 1_000)
        #expect(Set(order).count == 1_000)
        #expect(order.first == 1 && order.dropFirst().first == 0)
        let due = order.dropFirst(2).map { times[$0] }
        #expect(due == due.sorted())
        #expect(machine.waiting == 0 && machine.nextDeadline == nil)
    }

    @Test("after shutdown nothing is handed out")
    func shutdown() {
        var machine = WorkQueueStateMachine<String>()
        machine.add("a")
        machine.shutdown()
        #expect(machine.next() == nil)
        machine.add("b")
        #expect(machine.depth == 1)
    }
}

@Suite("Leader election state machine")
struct LeaderElectionStateMachineTests {
    let timing = LeaderElectionTiming(leaseDuration: .seconds(15), renewDeadline: .seconds(10), retryPeriod: .seconds(2))
    let t0 = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("no lease: create one; written: start leading; renewals keep the holder")
    func acquire() {
        var machine = LeaderElectionStateMachine(identity: "a", timing: timing)
        guard case .create(let spec) = machine.observe(nil, now: t0, wallClock: wall) else {
            Issue.record("expected create")
            return
        }
        #expect(spec.holderIdentity == "a")
        #expect(spec.leaseDurationSeconds == 15)
        #expect(machine.written(spec, attemptStart: t0, now: t0) == .started)
        guard case .update(let renewed) = machine.observe(spec, now: t0 + .seconds(2), wallClock: wall + 2) else {
            Issue.record("expected update")
            return
        }
        #expect(renewed.holderIdentity == "a")
        #expect(renewed.acquireTime == spec.acquireTime)
        #expect(renewed.leaseTransitions == 0)
    }

    @Test("another holder's lease is respected until leaseDuration passes without an observed change")
    func waitsForExpiry() {
        var machine = LeaderElectionStateMachine(identity: "b", timing: timing)
        let held = Lease.Spec(holderIdentity: "a", leaseDurationSeconds: 15, renewTime: MicroTime(wall), leaseTransitions: 3)
        #expect(machine.observe(held, now: t0, wallClock: wall) == .wait)
        #expect(machine.observe(held, now: t0 + .seconds(14), wallClock: wall) == .wait)
        var renewed = held
        renewed.renewTime = MicroTime(wall + 10)
        #expect(machine.observe(renewed, now: t0 + .seconds(16), wallClock: wall) == .wait)  // changed: clock restarts
        #expect(machine.observe(renewed, now: t0 + .seconds(30), wallClock: wall) == .wait)
        guard case .update(let taken) = machine.observe(renewed, now: t0 + .seconds(31), wallClock: wall + 40) else {
            Issue.record("expected takeover")
            return
        }
        #expect(taken.holderIdentity == "b")
        #expect(taken.leaseTransitions == 4)
    }

    @Test("a released lease (no holder) is taken at once")
    func released() {
        var machine = LeaderElectionStateMachine(identity: "b", timing: timing)
        let free = Lease.Spec(holderIdentity: nil, leaseDurationSeconds: 1, leaseTransitions: 1)
        guard case .update(let taken) = machine.observe(free, now: t0, wallClock: wall) else {
            Issue.record("expected acquire")
            return
        }
        #expect(taken.holderIdentity == "b")
    }

    @Test("a leader that cannot renew stops at renewDeadline, before the lease could expire for others")
    func stopsBeforeExpiry() {
        var machine = LeaderElectionStateMachine(identity: "a", timing: timing)
        guard case .create(let spec) = machine.observe(nil, now: t0, wallClock: wall) else { return }
        _ = machine.written(spec, attemptStart: t0, now: t0 + .milliseconds(50))
        #expect(machine.checkDeadline(now: t0 + .seconds(9)) == nil)
        #expect(machine.attemptBudget(now: t0 + .seconds(9)) == .seconds(1))
        #expect(machine.checkDeadline(now: t0 + .seconds(10)) == .stopped)
        #expect(!machine.isLeader)
        #expect(timing.renewDeadline < timing.leaseDuration)
    }

    @Test("seeing another holder stops leadership")
    func lostLease() {
        var machine = LeaderElectionStateMachine(identity: "a", timing: timing)
        guard case .create(let spec) = machine.observe(nil, now: t0, wallClock: wall) else { return }
        _ = machine.written(spec, attemptStart: t0, now: t0)
        let other = Lease.Spec(holderIdentity: "b", leaseDurationSeconds: 15, leaseTransitions: 1)
        #expect(machine.observe(other, now: t0 + .seconds(1), wallClock: wall) == .wait)
        #expect(machine.lostLease() == .stopped)
    }
}

@Suite("Predicates")
struct PredicateTests {
    @Test("generationChanged passes creations, deletions, spec changes and deletion starts, not status writes")
    func generation() {
        let predicate = Predicate<ConfigMap>.generationChanged
        let v1 = cm("a", rv: "1", generation: 1)
        var status = cm("a", rv: "2", generation: 1)
        #expect(predicate.evaluate(nil, v1))
        #expect(predicate.evaluate(v1, nil))
        #expect(!predicate.evaluate(v1, status))
        status.metadata.generation = 2
        #expect(predicate.evaluate(v1, status))
        var deleting = cm("a", rv: "3", generation: 1)
        deleting.metadata.deletionTimestamp = .now()
        #expect(predicate.evaluate(v1, deleting))
        // Without generations, resourceVersion changes count.
        #expect(predicate.evaluate(cm("b", rv: "1"), cm("b", rv: "2")))
        #expect(!predicate.evaluate(cm("b", rv: "1"), cm("b", rv: "1")))
    }
}
