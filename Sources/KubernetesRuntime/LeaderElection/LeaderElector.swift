import AsyncPrimitives
public import Foundation
public import KubernetesClient
public import KubernetesModels
public import Logging
public import ServiceLifecycle

/// Lease leader election (`coordination.k8s.io/v1`) as a `Service`: tries
/// every `retryPeriod` to acquire or renew the Lease, and publishes whether it
/// leads through ``leadership``. A leader that cannot renew within
/// `renewDeadline` stops leading — before `leaseDuration` passes, so before
/// anyone else can acquire. Every attempt is bounded by the time left to the
/// deadline, so a hanging request cannot keep a stale leader leading. On
/// graceful shutdown the leader releases the lease so a successor starts at once.
public final class LeaderElector: Service {
    /// The Lease API (its namespace is where the lease lives).
    public let api: Api<Lease>
    /// The lease's name.
    public let leaseName: String
    /// This elector's identity (e.g. the pod name).
    public let identity: String
    /// The timing.
    public let timing: LeaderElectionTiming
    /// Whether this elector leads, and its changes.
    public let leadership: LeadershipState
    private let onTransition: @Sendable (Bool) -> Void
    private let logger: Logger

    /// An elector for lease `leaseName` in `api`'s namespace. `onTransition` is
    /// called synchronously at the moment leadership starts (true) or stops (false).
    public init(
        api: Api<Lease>, leaseName: String, identity: String, timing: LeaderElectionTiming = .default,
        leadership: LeadershipState = LeadershipState(), logger: Logger = Logger(label: "tinyflow.leader-election"),
        onTransition: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.api = api
        self.leaseName = leaseName
        self.identity = identity
        self.timing = timing
        self.leadership = leadership
        self.onTransition = onTransition
        var logger = logger
        logger[metadataKey: "identity"] = "\(identity)"
        logger[metadataKey: "lease"] = "\(leaseName)"
        self.logger = logger
    }

    /// Elects until cancelled or gracefully shut down; then releases the lease if leading.
    public func run() async throws {
        let box = MachineBox(LeaderElectionStateMachine(identity: identity, timing: timing))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.attempt(box)
                let wait = self.nextWait(box)
                do { try await Task.sleep(for: wait) } catch { break }
            }
        }
        await release(box)
    }

    private func nextWait(_ box: MachineBox) -> Duration {
        let jitter = Double.random(in: 0...0.2)
        let period = timing.retryPeriod + timing.retryPeriod * jitter
        // A leader must not sleep past its renew deadline without noticing.
        let budget = box.machine.attemptBudget(now: .now)
        return box.machine.isLeader ? min(period, max(budget, .milliseconds(1))) : period
    }

    private func transition(_ change: LeaderElectionStateMachine.Transition?, _ box: MachineBox) {
        guard let change else { return }
        let leading = change == .started
        onTransition(leading)
        leadership.set(leading, term: box.machine.term)
        logger.info(leading ? "started leading" : "stopped leading")
    }

    private func attempt(_ box: MachineBox) async {
        let start = ContinuousClock.now
        transition(box.machine.checkDeadline(now: start), box)
        let budget = box.machine.isLeader ? box.machine.attemptBudget(now: start) : timing.renewDeadline
        let api = self.api
        let name = self.leaseName
        do {
            let lease = try await withTimeout(budget) { try await api.getOptional(name) }
            let decision = box.machine.observe(lease?.spec, now: .now, wallClock: Date())
            switch decision {
            case .wait:
                transition(box.machine.lostLease(), box)
            case .create(let spec):
                let created = Lease(metadata: ObjectMeta(name: name, namespace: api.namespace), spec: spec)
                let remaining = box.machine.isLeader ? box.machine.attemptBudget(now: .now) : timing.renewDeadline
                let stored = try await withTimeout(remaining) { try await api.create(created) }
                transition(box.machine.written(stored.spec, attemptStart: start, now: .now), box)
            case .update(let spec):
                guard var updated = lease else { return }
                updated.spec = spec
                let remaining = box.machine.isLeader ? box.machine.attemptBudget(now: .now) : timing.renewDeadline
                let toWrite = updated
                let stored = try await withTimeout(remaining) { try await api.replace(toWrite) }
                // Stop at once if the deadline passed while the write was in flight.
                transition(box.machine.checkDeadline(now: .now), box)
                if ContinuousClock.now - start < timing.renewDeadline {
                    transition(box.machine.written(stored.spec, attemptStart: start, now: .now), box)
                }
            }
        } catch {
            logger.debug("lease attempt failed", metadata: ["error": "\(error)"])
        }
        transition(box.machine.checkDeadline(now: .now), box)
    }

    private func release(_ box: MachineBox) async {
        guard box.machine.isLeader else { return }
        transition(box.machine.resign(), box)
        do {
            // Up to 2 s (within the renew deadline): a release that times out makes the
            // successor wait for the whole lease, so a loaded API server deserves some patience.
            let limit = min(timing.renewDeadline, max(timing.retryPeriod, .seconds(2)))
            _ = try await withTimeout(limit) { [api, leaseName, identity] in
                var lease = try await api.get(leaseName)
                guard lease.spec.holderIdentity == identity else { return lease }
                lease.spec.holderIdentity = nil
                lease.spec.leaseDurationSeconds = 1
                lease.spec.renewTime = MicroTime(Date())
                return try await api.replace(lease)
            }
        } catch {
            logger.debug("could not release the lease", metadata: ["error": "\(error)"])
        }
    }
}

/// The elector's state machine; only the elector's single run loop touches it.
final class MachineBox: @unchecked Sendable {
    // Invariant: accessed only from `LeaderElector.run()`'s one sequential loop.
    var machine: LeaderElectionStateMachine
    init(_ machine: LeaderElectionStateMachine) { self.machine = machine }
}
