import AsyncHTTPClient
import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle
import Synchronization
import ControlPlaneTestSupport
import TestSupport
import Testing

/// A transport that can be cut off: while partitioned, requests hang until cancelled.
final class PartitionableTransport: HTTPTransport {
    let base: any HTTPTransport
    private let cut = Mutex(false)

    init(_ base: any HTTPTransport) { self.base = base }

    func partition(_ on: Bool) { cut.withLock { $0 = on } }

    func execute(_ request: TransportRequest) async throws -> TransportResponse {
        if cut.withLock({ $0 }) {
            try await Task.sleep(for: .seconds(3600))
        }
        return try await base.execute(request)
    }

    func shutdown() async throws { try await base.shutdown() }
}

/// Who led when, recorded at the moment each elector changed its mind.
final class LeadershipTimeline: Sendable {
    struct Entry: Sendable {
        var identity: String
        var leading: Bool
        var at: ContinuousClock.Instant
    }

    private let entries = Mutex<[Entry]>([])

    func record(_ identity: String) -> @Sendable (Bool) -> Void {
        { leading in self.entries.withLock { $0.append(Entry(identity: identity, leading: leading, at: .now)) } }
    }

    var all: [Entry] { entries.withLock { $0 } }

    /// The intervals each identity led, closed with `end` if still leading.
    func intervals(until end: ContinuousClock.Instant) -> [(String, ClosedRange<ContinuousClock.Instant>)] {
        var open: [String: ContinuousClock.Instant] = [:]
        var result: [(String, ClosedRange<ContinuousClock.Instant>)] = []
        for entry in all {
            if entry.leading {
                open[entry.identity] = entry.at
            } else if let start = open.removeValue(forKey: entry.identity) {
                result.append((entry.identity, start...entry.at))
            }
        }
        for (identity, start) in open { result.append((identity, start...end)) }
        return result
    }

    /// Whether two identities' intervals overlap anywhere.
    func hasOverlap(until end: ContinuousClock.Instant) -> Bool {
        let intervals = intervals(until: end)
        for (i, a) in intervals.enumerated() {
            for b in intervals[(i + 1)...] where a.0 != b.0 && a.1.overlaps(b.1) { return true }
        }
        return false
    }
}

@Suite("Lease leader election against the embedded control plane", .timeLimit(.minutes(3)))
struct LeaderElectionTests {
    let timing = LeaderElectionTiming(leaseDuration: .milliseconds(4000), renewDeadline: .milliseconds(3000), retryPeriod: .milliseconds(400))

    @Test("when the leader stops renewing the other takes over within the lease bounds, and there is never a moment with two leaders")
    func takeover() async throws {
        try await withPlane { plane, client in
            let timeline = LeadershipTimeline()
            let configuration = ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token))
            let partitionable = PartitionableTransport(try AsyncHTTPClientTransport(configuration: configuration))
            let clientA = try KubernetesClient(configuration: configuration, transport: partitionable, retryPolicy: .never)
            let a = LeaderElector(
                api: clientA.api(Lease.self), leaseName: "tinyflow-operator", identity: "a", timing: timing,
                onTransition: timeline.record("a"))
            let b = LeaderElector(
                api: client.api(Lease.self), leaseName: "tinyflow-operator", identity: "b", timing: timing,
                onTransition: timeline.record("b"))

            // The client must be shut down however the test ends.
            do {
                try await takeover(a, b, partitionable: partitionable, timeline: timeline, client: client)
            } catch {
                try? await clientA.shutdown()
                throw error
            }
            #expect(!timeline.hasOverlap(until: .now))
            try await clientA.shutdown()
        }
    }

    private func takeover(
        _ a: LeaderElector, _ b: LeaderElector, partitionable: PartitionableTransport, timeline: LeadershipTimeline,
        client: KubernetesClient
    ) async throws {
            try await withService({ try await a.run() }) {
                try await eventually("a leads") { a.leadership.isLeader }
                try await withService({ try await b.run() }) {
                    // b has observed a's lease and follows while a renews.
                    try await eventually("b follows while a leads") {
                        a.leadership.isLeader && !b.leadership.isLeader
                            && timeline.all.allSatisfy { $0.identity == "a" }
                    }

                    let cut = ContinuousClock.now
                    partitionable.partition(true)
                    try await eventually("b takes over", timeout: .seconds(15)) { b.leadership.isLeader }
                    let takeover = ContinuousClock.now - cut
                    #expect(!a.leadership.isLeader)
                    // a stopped before its lease could expire; b started only after it could have.
                    let aStopped = try #require(timeline.all.first { $0.identity == "a" && !$0.leading })
                    #expect(aStopped.at - cut < timing.leaseDuration)
                    #expect(takeover >= timing.leaseDuration - timing.retryPeriod * 2)
                    // The upper bound leaves room for retries delayed on a loaded machine.
                    #expect(takeover <= timing.leaseDuration + timing.renewDeadline + .seconds(5))

                    let lease = try await client.api(Lease.self).get("tinyflow-operator")
                    #expect(lease.spec.holderIdentity == "b")
                    #expect((lease.spec.leaseTransitions ?? 0) >= 1)

                    // a comes back and stays a follower while b renews.
                    partitionable.partition(false)
                    try await eventually("a follows b") { !a.leadership.isLeader && b.leadership.isLeader }
                }
            }
    }

    @Test("a leader that shuts down gracefully releases the lease and the follower takes over at once")
    func releaseOnShutdown() async throws {
        try await withPlane { plane, client in
            let timeline = LeadershipTimeline()
            // A long lease, so that "at once" (a retry period after the release) and "after the
            // lease expired" stay far apart even on a loaded machine.
            let slow = LeaderElectionTiming(leaseDuration: .seconds(20), renewDeadline: .seconds(10), retryPeriod: .milliseconds(100))
            // b has a client of its own whose requests are recorded, to tell when b has looked at a's lease.
            let configuration = ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token))
            let bRequests = RecordingTransport(try AsyncHTTPClientTransport(configuration: configuration))
            let clientB = try KubernetesClient(configuration: configuration, transport: bRequests, retryPolicy: .never)
            let a = LeaderElector(api: client.api(Lease.self), leaseName: "l", identity: "a", timing: slow, onTransition: timeline.record("a"))
            let b = LeaderElector(api: clientB.api(Lease.self), leaseName: "l", identity: "b", timing: slow, onTransition: timeline.record("b"))
            let group = ServiceGroup(configuration: .init(services: [a], logger: Logger(label: "test")))
            let runA = Task { try await group.run() }
            do {
                try await eventually("a leads") { a.leadership.isLeader }
                try await withService({ try await b.run() }) {
                    // b's attempts run one after another: its second request means its first attempt,
                    // which found the lease a holds, has decided (and must have decided to follow).
                    try await eventually("b to start its second lease attempt") { bRequests.requests.count >= 2 }
                    #expect(!b.leadership.isLeader)
                    let stop = ContinuousClock.now
                    await group.triggerGracefulShutdown()
                    try await runA.value
                    #expect(!a.leadership.isLeader)
                    try await eventually("b takes over before the lease would expire", timeout: .seconds(15)) { b.leadership.isLeader }
                    #expect(ContinuousClock.now - stop < slow.leaseDuration)
                    // The new leader's term is after the old one's: what it sends wins over what a sent.
                    #expect(b.leadership.term > a.leadership.term, "terms: a \(a.leadership.term), b \(b.leadership.term)")
                }
            } catch {
                runA.cancel()
                try? await clientB.shutdown()
                throw error
            }
            try await clientB.shutdown()
            #expect(!timeline.hasOverlap(until: .now))
        }
    }

    @Test("a controller reconciles only while its elector leads")
    func controllerFollowsLeadership() async throws {
        try await withPlane { plane, client in
            let configuration = ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token))
            let partitionable = PartitionableTransport(try AsyncHTTPClientTransport(configuration: configuration))
            let leaseClient = try KubernetesClient(configuration: configuration, transport: partitionable, retryPolicy: .never)
            let stoppedAt = Locked<ContinuousClock.Instant?>(nil)
            let elector = LeaderElector(
                api: leaseClient.api(Lease.self), leaseName: "ctl", identity: "only", timing: timing,
                onTransition: { leading in if !leading { stoppedAt.withLock { $0 = .now } } })
            let reconciles = Locked<[ContinuousClock.Instant]>([])
            var controllerConfiguration = ControllerConfiguration(name: "led", workers: 1)
            controllerConfiguration.leadership = elector.leadership
            controllerConfiguration.watcher = fastWatcher()
            let api = client.api(ConfigMap.self)
            let controller = Controller(api: api, configuration: controllerConfiguration, predicate: .always) { _, _ in
                reconciles.withLock { $0.append(.now) }
                return .done
            }
            try await withService({ try await controller.run() }) {
                _ = try await api.create(configMap("before-leading"))
                // The watch delivered the object and the controller queued it. A waiting worker takes
                // a key in the same step that adds it, so a key that stays queued found none.
                try await eventually("before-leading queued") { controller.queue.depth == 1 && controller.queue.inFlight == 0 }
                #expect(reconciles.withLock { $0.isEmpty })
                try await withService({ try await elector.run() }) {
                    try await eventually("reconciled once leading") { reconciles.withLock { $0.count } == 1 }
                    partitionable.partition(true)
                    try await eventually("leadership lost", timeout: .seconds(5)) { !elector.leadership.isLeader }
                    _ = try await api.create(configMap("while-following"))
                    // Queued and left there: no worker waited for it (one would have taken it as it was
                    // added), or one that had not stopped yet saw it no longer leads and put it back.
                    try await eventually("while-following queued and not taken") {
                        controller.queue.depth == 1 && controller.queue.inFlight == 0
                    }
                    let stopped = try #require(stoppedAt.withLock { $0 })
                    #expect(reconciles.withLock { $0.count } == 1)
                    #expect(reconciles.withLock { $0.allSatisfy { $0 < stopped } })
                }
            }
            try await leaseClient.shutdown()
        }
    }
}

@Suite("Operator HTTP endpoints", .timeLimit(.minutes(3)))
struct OperatorHTTPServerTests {
    @Test("/metrics serves controller metrics; /healthz and /readyz answer")
    func endpoints() async throws {
        try await withPlane { _, client in
            let registry = PrometheusCollectorRegistry()
            let factory = PrometheusMetricsFactory(registry: registry)
            var configuration = ControllerConfiguration(name: "metered", workers: 1)
            configuration.metricsFactory = factory
            configuration.watcher = fastWatcher()
            let api = client.api(ConfigMap.self)
            let controller = Controller(api: api, configuration: configuration, predicate: .always) { _, _ in .done }
            let ready = Locked(false)
            let port = Locked<Int?>(nil)
            let server = OperatorHTTPServer(host: "127.0.0.1", port: 0, registry: registry, isReady: { ready.withLock { $0 } }) { bound in
                port.withLock { $0 = bound }
            }
            try await withService({ try await server.run() }) {
                try await withService({ try await controller.run() }) {
                    _ = try await api.create(configMap("m"))
                    try await eventually("port") { port.withLock { $0 } != nil }
                    let base = "http://127.0.0.1:\(port.withLock { $0 } ?? 0)"
                    let http = HTTPClient.shared
                    @Sendable func get(_ path: String) async throws -> (Int, String) {
                        let response = try await http.execute(HTTPClientRequest(url: base + path), timeout: .seconds(5))
                        let body = try await response.body.collect(upTo: 1 << 20)
                        return (Int(response.status.code), String(buffer: body))
                    }
                    #expect(try await get("/healthz").0 == 200)
                    #expect(try await get("/readyz").0 == 503)
                    ready.withLock { $0 = true }
                    #expect(try await get("/readyz").0 == 200)
                    try await eventually("reconciled") {
                        try await get("/metrics").1.contains(#"tinyflow_reconcile_total{controller="metered",result="success"} 1"#)
                    }
                    let metrics = try await get("/metrics").1
                    #expect(metrics.contains("tinyflow_reconcile_time_seconds"))
                    #expect(metrics.contains("tinyflow_workqueue_depth"))
                }
            }
        }
    }
}
