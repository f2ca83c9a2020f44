public import Foundation
public import KubernetesModels

/// Timing of Lease leader election (client-go's defaults: 15 s / 10 s / 2 s).
public struct LeaderElectionTiming: Sendable, Hashable {
    /// How long a lease holds after its last observed renewal; others wait this long before taking over.
    public var leaseDuration: Duration
    /// How long the leader keeps trying to renew before it gives up leading;
    /// shorter than `leaseDuration`, so it stops before anyone else can start.
    public var renewDeadline: Duration
    /// How often electors try to acquire or renew.
    public var retryPeriod: Duration

    /// Creates timing; `renewDeadline` must be below `leaseDuration`.
    public init(leaseDuration: Duration = .seconds(15), renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2)) {
        precondition(renewDeadline < leaseDuration, "renewDeadline must be shorter than leaseDuration")
        precondition(retryPeriod < renewDeadline, "retryPeriod must be shorter than renewDeadline")
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
    }

    /// 15 s / 10 s / 2 s.
    public static let `default` = LeaderElectionTiming()
}

/// The rules of Lease leader election, with no I/O and time passed in.
///
/// Expiry is judged by the local monotonic clock from the moment this elector
/// *observed* the lease record change (not by `renewTime`, so clock skew
/// between machines does not matter): a lease held by someone else is free
/// only after `leaseDuration` without an observed change. A leader that has
/// not renewed for `renewDeadline` stops leading.
public struct LeaderElectionStateMachine: Sendable {
    /// Who this elector is.
    public let identity: String
    /// The timing.
    public let timing: LeaderElectionTiming
    /// The last record observed.
    public private(set) var observedRecord: Lease.Spec?
    /// When (locally) the record was last seen to change.
    public private(set) var observedAt: ContinuousClock.Instant?
    /// When this elector last wrote the lease successfully as leader.
    public private(set) var lastRenewal: ContinuousClock.Instant?
    /// Whether this elector leads.
    public private(set) var isLeader = false

    /// The term of the lease as last observed: its `leaseTransitions`, which grows each time
    /// the lease changes hands, so a leader's term is larger than every earlier leader's.
    public var term: Int64 { Int64(observedRecord?.leaseTransitions ?? 0) }

    /// What to do after observing the lease.
    public enum Decision: Sendable, Hashable {
        /// No lease exists: create one holding it.
        case create(Lease.Spec)
        /// Write this record (acquire or renew) on top of the observed resourceVersion.
        case update(Lease.Spec)
        /// Someone else holds an unexpired lease: wait.
        case wait
    }

    /// A change of leadership to report.
    public enum Transition: Sendable, Hashable {
        /// This elector started leading.
        case started
        /// This elector stopped leading.
        case stopped
    }

    /// A machine for `identity`.
    public init(identity: String, timing: LeaderElectionTiming) {
        self.identity = identity
        self.timing = timing
    }

    /// The lease was read (nil: it does not exist); decides whether to write.
    public mutating func observe(_ record: Lease.Spec?, now: ContinuousClock.Instant, wallClock: Date) -> Decision {
        if record != observedRecord || observedAt == nil {
            observedRecord = record
            observedAt = now
        }
        let durationSeconds = Int((Double(timing.leaseDuration.components.seconds) + Double(timing.leaseDuration.components.attoseconds) / 1e18).rounded(.up))
        guard let record else {
            return .create(Lease.Spec(
                holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: MicroTime(wallClock),
                renewTime: MicroTime(wallClock), leaseTransitions: 0))
        }
        let holder = record.holderIdentity ?? ""
        if holder == identity {
            var renewed = record
            renewed.renewTime = MicroTime(wallClock)
            renewed.leaseDurationSeconds = durationSeconds
            return .update(renewed)
        }
        if !holder.isEmpty, let observedAt, now < observedAt + timing.leaseDuration {
            return .wait
        }
        return .update(Lease.Spec(
            holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: MicroTime(wallClock),
            renewTime: MicroTime(wallClock), leaseTransitions: (record.leaseTransitions ?? 0) + 1))
    }

    /// The lease was written with `record` at `now` (`attemptStart`: when the attempt began).
    public mutating func written(_ record: Lease.Spec, attemptStart: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Transition? {
        observedRecord = record
        observedAt = now
        // Count the renewal from when the attempt began: the server may have
        // taken the write at any moment after that.
        lastRenewal = attemptStart
        guard !isLeader else { return nil }
        isLeader = true
        return .started
    }

    /// Whether the leader is past its renew deadline at `now`; if so it stops leading.
    public mutating func checkDeadline(now: ContinuousClock.Instant) -> Transition? {
        guard isLeader, let lastRenewal, now - lastRenewal >= timing.renewDeadline else { return nil }
        isLeader = false
        return .stopped
    }

    /// Someone else holds the lease (a write conflicted or the read shows another holder).
    public mutating func lostLease() -> Transition? {
        guard isLeader, let holder = observedRecord?.holderIdentity, holder != identity else { return nil }
        isLeader = false
        return .stopped
    }

    /// Stops leading now (shutdown or release).
    public mutating func resign() -> Transition? {
        guard isLeader else { return nil }
        isLeader = false
        return .stopped
    }

    /// How long an attempt may take before the leader would pass its renew deadline.
    public func attemptBudget(now: ContinuousClock.Instant) -> Duration {
        guard isLeader, let lastRenewal else { return timing.renewDeadline }
        return max(.zero, lastRenewal + timing.renewDeadline - now)
    }
}
