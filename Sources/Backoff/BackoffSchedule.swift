/// The failures of one thing that is retried (a watch, a child process, a
/// node, a connection) and the delay before its next try: a pure value, with
/// the time passed in, so it is tested without clocks.
///
/// Call ``started(at:)`` when a try begins and ``failed(at:random:)`` when it
/// fails; a try that ran for the backoff's `resetAfter` before failing was
/// healthy, and the delays start again from `initial` instead of growing for
/// ever with every blip.
public struct BackoffSchedule: Sendable, Hashable {
    /// The delays.
    public let backoff: Backoff
    /// Failures since the last reset: the next delay is ``Backoff/delay(attempt:random:)`` of this.
    public private(set) var failures = 0
    /// When the current try began, if one is running.
    public private(set) var startedAt: ContinuousClock.Instant?

    /// A schedule with no failures yet.
    public init(_ backoff: Backoff) {
        self.backoff = backoff
    }

    /// Notes that a try began at `now`.
    public mutating func started(at now: ContinuousClock.Instant) {
        startedAt = now
    }

    /// Counts a failure at `now` and returns how long to wait before the next
    /// try. A try that had been running for `resetAfter` resets the count first.
    public mutating func failed(at now: ContinuousClock.Instant, random: Double = Double.random(in: 0...1)) -> Duration {
        if let startedAt, let resetAfter = backoff.resetAfter, now - startedAt >= resetAfter {
            failures = 0
        }
        startedAt = nil
        let delay = backoff.delay(attempt: failures, random: random)
        failures += 1
        return delay
    }

    /// Forgets every failure (after a success).
    public mutating func reset() {
        failures = 0
    }
}
