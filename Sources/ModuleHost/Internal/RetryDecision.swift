import Backoff
import CRDModels
import ComponentKit
import Foundation
import ModuleHostAPI

/// Whether a delivery whose handler failed is tried again, and after how long,
/// under the retry policy of the edge it came by: a pure value, with the time
/// passed in, so it is tested without clocks.
///
/// Attempts are counted from 1 (the first try). The waits grow as
/// `initialDelay × backoffCoefficient^(attempt − 1)`, at most `maxDelay`, with
/// no jitter. A failure is not retried when the attempts are used up, the
/// task was cancelled, its error type (or description) is listed in
/// `nonRetryableErrors`, or the wait would end past the policy's `timeout`
/// (counted from the start of the first attempt) or at or past the message's
/// deadline.
struct RetryDecision: Sendable, Hashable {
    /// What to do after a failed attempt.
    enum Outcome: Sendable, Hashable {
        /// Try again after this wait.
        case retry(after: Duration)
        /// Do not try again: the failure stands.
        case giveUp
    }

    /// The policy of the edge.
    let policy: RetryPolicy
    /// The waits between attempts, from the policy.
    let backoff: Backoff
    /// The time all attempts together may take, if the policy limits it.
    let timeout: Duration?

    /// The decision for `policy`; durations it does not spell correctly take the defaults (100 ms, 10 s, no timeout).
    init(policy: RetryPolicy) {
        self.policy = policy
        self.backoff = Backoff(
            initial: parseDuration(policy.initialDelay) ?? .milliseconds(100),
            maximum: parseDuration(policy.maxDelay) ?? .seconds(10),
            multiplier: policy.backoffCoefficient, jitter: 0)
        self.timeout = policy.timeout.flatMap { parseDuration($0) }
    }

    /// Whether `error` would recur however often the delivery is tried (a message too large
    /// to cross modules, alone or as every failure of a batch).
    static func isPermanent(_ error: any Error) -> Bool {
        if let transport = error as? TransportError { return transport.isPermanent }
        if let batch = error as? BatchSendError {
            return !batch.failures.isEmpty && batch.failures.allSatisfy { ($0.error as? TransportError)?.isPermanent ?? false }
        }
        return false
    }

    /// The wait after attempt number `attempt` (from 1) failed.
    func delay(afterAttempt attempt: Int) -> Duration {
        backoff.delay(attempt: attempt - 1, random: 0.5)
    }

    /// Decides after attempt number `attempt` (from 1) failed with `error`.
    ///
    /// - Parameters:
    ///   - elapsed: the time since the first attempt began.
    ///   - now: the wall-clock time, to compare with `deadline`.
    ///   - deadline: the message's deadline, if it has one.
    func afterFailure(_ error: any Error, attempt: Int, elapsed: Duration, now: Date, deadline: Date?) -> Outcome {
        guard attempt < policy.maxAttempts, !(error is CancellationError), !Self.isPermanent(error) else { return .giveUp }
        if policy.nonRetryableErrors.contains(String(describing: type(of: error)))
            || policy.nonRetryableErrors.contains("\(error)")
        {
            return .giveUp
        }
        let wait = delay(afterAttempt: attempt)
        if let timeout, elapsed + wait > timeout { return .giveUp }
        if let deadline, now.addingTimeInterval(wait.seconds) >= deadline { return .giveUp }
        return .retry(after: wait)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double { self / .seconds(1) }
}
