import CRDModels
import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ServiceLifecycle
import Synchronization
import ControlPlaneTestSupport
import TestSupport
import Testing

/// Records reconcile attempts per key and flags overlaps.
final class AttemptLog: Sendable {
    private let state = Mutex((inFlight: [String: Int](), overlaps: 0, times: [String: [ContinuousClock.Instant]](), max: 0))

    func begin(_ key: String) {
        state.withLock { state in
            state.inFlight[key, default: 0] += 1
            if state.inFlight[key, default: 0] > 1 { state.overlaps += 1 }
            state.times[key, default: []].append(.now)
            state.max = Swift.max(state.max, state.inFlight.values.reduce(0, +))
        }
    }

    func end(_ key: String) { state.withLock { $0.inFlight[key, default: 0] -= 1 } }
    var overlaps: Int { state.withLock { $0.overlaps } }
    var maxConcurrent: Int { state.withLock { $0.max } }
    func times(_ key: String) -> [ContinuousClock.Instant] { state.withLock { $0.times[key] ?? [] } }
    func count(_ key: String) -> Int { times(key).count }
}

struct Boom: Error {}

@Suite("Work queue and controller", .timeLimit(.minutes(3)))
struct ControllerTests {
    @Test("the work queue never hands one key to two workers at once, under concurrent adds")
    func queueNeverTwiceAtOnce() async throws {
        let queue = WorkQueue<Int>()
        let log = AttemptLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    while let key = await queue.next() {
                        log.begin("\(key)")
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...300)))
                        log.end("\(key)")
                        queue.done(key)
                    }
                }
            }
            group.addTask {
                for round in 0..<400 {
                    queue.add(round % 5)
                    if round % 20 == 0 { try await Task.sleep(for: .milliseconds(1)) }
                }
                try await eventually("drained") { queue.depth == 0 && queue.inFlight == 0 }
                queue.shutdown()
            }
            try await group.waitForAll()
        }
        #expect(log.overlaps == 0)
        #expect(log.maxConcurrent > 1)
        #expect((0..<5).map { log.count("\($0)") }.reduce(0, +) >= 5)
    }

    @Test("a delayed add is handed out after its delay")
    func delayedAdd() async {
        let queue = WorkQueue<String>()
        let start = ContinuousClock.now
        queue.add("a", after: .milliseconds(100))
        let key = await queue.next()
        #expect(key == "a")
        #expect(ContinuousClock.now - start >= .milliseconds(100))
        queue.shutdown()
        #expect(await queue.next() == nil)
    }

    @Test("a key that keeps failing backs off exponentially and is never reconciled by two workers at once")
    func failingKeyBacksOff() async throws {
        try await withPlane { _, client in
            let api = client.api(ConfigMap.self)
            _ = try await api.create(configMap("busy"))
            let log = AttemptLog()
            var configuration = ControllerConfiguration(name: "backoff", workers: 4)
            configuration.watcher = fastWatcher()
            let controller = Controller(api: api, configuration: configuration, predicate: .always) { object, _ in
                let name = object.metadata.name ?? ""
                log.begin(name)
                defer { log.end(name) }
                if name == "bad" { throw Boom() }
                try await Task.sleep(for: .milliseconds(10))
                return .done
            }
            try await withService({ try await controller.run() }) {
                // A busy object changing faster than it is reconciled: never two workers on it.
                for index in 0..<25 {
                    _ = try await api.update("busy") { $0.data = ["i": String(index)] }
                }
                try await eventually("busy settled") { controller.queue.depth == 0 && controller.queue.inFlight == 0 }
                #expect(log.count("busy") >= 2)

                // A failing object: attempts spaced by 5 ms × 2^n.
                _ = try await api.create(configMap("bad"))
                try await eventually("eight attempts", timeout: .seconds(10)) { log.count("bad") >= 8 }
                let times = Array(log.times("bad").prefix(8))
                let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
                for (index, gap) in gaps.enumerated() {
                    let nominal = Duration.milliseconds(5) * (1 << index)
                    #expect(gap >= nominal, "gap \(index): \(gap) < \(nominal)")
                    #expect(gap < nominal * 4 + .milliseconds(400), "gap \(index): \(gap) too long for \(nominal)")
                }
                #expect(controller.queue.failureCount(ObjectKey(namespace: "default", name: "bad")) >= 8)
                #expect(log.overlaps == 0)
            }
        }
    }

    @Test("status writes do not retrigger a generation-predicate controller; spec changes do")
    func generationPredicate() async throws {
        try await withPlane { _, client in
            try await installTinyNodeCRD(client)
            let api = client.api(TinyNode.self)
            let log = AttemptLog()
            var configuration = ControllerConfiguration(name: "nodes", workers: 2)
            configuration.watcher = fastWatcher()
            let controller = Controller(api: api, configuration: configuration) { node, _ in
                let name = node.metadata.name ?? ""
                log.begin(name)
                defer { log.end(name) }
                var updated = node
                var status = node.status ?? TinyNodeStatus()
                status.observedGeneration = node.metadata.generation
                status.conditions.set(Condition(type: "Ready", status: .true, reason: "Reconciled", observedGeneration: node.metadata.generation))
                updated.status = status
                _ = try await api.replaceStatus(updated)
                return .done
            }
            try await withService({ try await controller.run() }) {
                _ = try await api.create(tinyNode("n"))
                try await eventually("status written") { try await api.get("n").status?.observedGeneration == 1 }
                // A marker created after the status write comes later in the watch, which the
                // controller handles in order: once the marker is reconciled and the queue is idle,
                // a reconcile of n triggered by its status write would have been queued before the
                // marker and run to its end.
                _ = try await api.create(tinyNode("marker"))
                try await eventually("the marker reconciled and the queue idle") {
                    log.count("marker") >= 1 && controller.queue.depth == 0 && controller.queue.inFlight == 0
                }
                #expect(log.count("n") == 1)
                _ = try await api.update("n") { $0.spec.component = "debug" }
                try await eventually("status follows the spec") { try await api.get("n").status?.observedGeneration == 2 }
                #expect(log.count("n") == 2)
            }
        }
    }

    @Test("secondary watches map changes to owner keys; the finalizer guards cleanup")
    func secondaryAndFinalizer() async throws {
        try await withPlane { _, client in
            try await installTinyNodeCRD(client)
            let nodes = client.api(TinyNode.self)
            let configMaps = client.api(ConfigMap.self)
            let external = Locked<Set<String>>([])
            let log = AttemptLog()
            var configuration = ControllerConfiguration(name: "finalizing", workers: 2)
            configuration.watcher = fastWatcher()
            let controller = Controller(api: nodes, configuration: configuration, indexers: ["module": { [$0.spec.module] }]) { node, _ in
                log.begin(node.metadata.name ?? "")
                defer { log.end(node.metadata.name ?? "") }
                return try await finalizer(api: nodes, name: "tinyflow.dev/cleanup", object: node) { event in
                    switch event {
                    case .apply(let node):
                        #expect(node.metadata.finalizers?.contains("tinyflow.dev/cleanup") == true)
                        external.withLock { _ = $0.insert(node.metadata.name ?? "") }
                    case .cleanup(let node):
                        external.withLock { _ = $0.remove(node.metadata.name ?? "") }
                    }
                    return .done
                }
            }
            controller.watches(configMaps, configuration: fastWatcher()) { configMap in
                configMap.metadata.labels?["tinyflow.dev/node"].map { [ObjectKey(namespace: configMap.metadata.namespace, name: $0)] } ?? []
            }
            try await withService({ try await controller.run() }) {
                _ = try await nodes.create(tinyNode("f", module: "http"))
                try await eventually("external state created") { external.withLock { $0.contains("f") } }
                #expect(try await nodes.get("f").metadata.finalizers == ["tinyflow.dev/cleanup"])
                try await eventually("indexed") { controller.store.byIndex("module", "http").count == 1 }

                let before = log.count("f")
                _ = try await configMaps.create(configMap("settings", labels: ["tinyflow.dev/node": "f"]))
                try await eventually("secondary change reconciles the owner") { log.count("f") > before }

                try await nodes.delete("f")
                try await eventually("cleaned up and deleted") {
                    let gone = try await nodes.getOptional("f") == nil
                    return gone && external.withLock { $0.isEmpty }
                }
            }
        }
    }

    @Test("owned objects reconcile their owner; graceful shutdown stops the controller")
    func ownsAndShutdown() async throws {
        try await withPlane { _, client in
            let configMaps = client.api(ConfigMap.self)
            let owner = try await configMaps.create(configMap("owner"))
            let log = AttemptLog()
            var configuration = ControllerConfiguration(name: "owner", workers: 1)
            configuration.watcher = fastWatcher()
            let controller = Controller(
                api: configMaps, configuration: configuration,
                predicate: Predicate { _, new in new?.metadata.ownerReferences == nil }
            ) { object, _ in
                log.begin(object.metadata.name ?? "")
                log.end(object.metadata.name ?? "")
                return .done
            }
            controller.owns(configMaps, configuration: fastWatcher())
            let group = ServiceGroup(configuration: .init(services: [controller], logger: Logger(label: "test")))
            let running = Task { try await group.run() }
            try await eventually("owner reconciled") { log.count("owner") == 1 }
            var child = configMap("child")
            child.metadata.ownerReferences = [OwnerReference(
                apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid ?? "", controller: true)]
            _ = try await configMaps.create(child)
            try await eventually("the owned object's change reconciles the owner") { log.count("owner") >= 2 }
            #expect(log.count("child") == 0)
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    @Test("events are recorded once and then counted as a series")
    func events() async throws {
        try await withPlane { _, client in
            let recorder = EventRecorder(client: client, reportingController: "tinyflow.dev/operator", reportingInstance: "test-0")
            let object = try await client.api(ConfigMap.self).create(configMap("subject"))
            let first = try await recorder.publish(.warning, reason: "ConfigInvalid", action: "Reconcile", note: "bad", regarding: object)
            _ = try await recorder.publish(.warning, reason: "ConfigInvalid", action: "Reconcile", note: "bad", regarding: object)
            let third = try await recorder.publish(.warning, reason: "ConfigInvalid", action: "Reconcile", note: "bad", regarding: object)
            #expect(third.metadata.name == first.metadata.name)
            #expect(third.series?.count == 3)
            _ = try await recorder.publish(.normal, reason: "Ready", action: "Reconcile", regarding: object)
            let events = try await client.api(Event.self).list()
            #expect(events.items.count == 2)
            let warning = try #require(events.items.first { $0.reason == "ConfigInvalid" })
            #expect(warning.type == "Warning")
            #expect(warning.regarding?.name == "subject")
            #expect(warning.regarding?.kind == "ConfigMap")
            #expect(warning.reportingController == "tinyflow.dev/operator")
            #expect(warning.series?.count == 3)
        }
    }

    @Test("the recorder remembers a bounded number of series, forgetting the least recent")
    func eventSeriesAreBounded() async throws {
        try await withPlane { _, client in
            let recorder = EventRecorder(
                client: client, reportingController: "tinyflow.dev/operator", reportingInstance: "test-0", seriesCapacity: 8)
            var subjects: [ConfigMap] = []
            for index in 0..<20 {
                let subject = try await client.api(ConfigMap.self).create(configMap("subject-\(index)"))
                subjects.append(subject)
                _ = try await recorder.publish(reason: "Ready", action: "Reconcile", regarding: subject)
                #expect(recorder.rememberedSeries <= 8)
            }
            // The most recent series is still counted; the first one was forgotten and starts anew.
            let recent = try await recorder.publish(reason: "Ready", action: "Reconcile", regarding: subjects[19])
            #expect(recent.series?.count == 2)
            let restarted = try await recorder.publish(reason: "Ready", action: "Reconcile", regarding: subjects[0])
            #expect(restarted.series == nil)
        }
    }
}
