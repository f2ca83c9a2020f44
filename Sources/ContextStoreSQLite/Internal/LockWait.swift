import Backoff

/// When a write that found the file's write lock held by another process tries again: after
/// a short random delay that grows with each try (1 ms doubling to 50 ms, each spread by
/// ± 50 %, so waiting writers do not retry in step: the one ``Backoff``), until the
/// operation's deadline.
///
/// Pure: no clock, no sleeping. The store asks it for the next delay and sleeps for it.
struct LockWait {
    /// When the operation gives up.
    let deadline: ContinuousClock.Instant
    /// How many tries have waited so far.
    private var tries = 0

    static let backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(50), multiplier: 2, jitter: 0.5)

    /// Starts waiting at `start`, for at most `timeout`.
    init(timeout: Duration, start: ContinuousClock.Instant) {
        deadline = start + timeout
    }

    /// How long to wait before the next try, with `random` in 0…1 choosing the jitter; never
    /// past the deadline (the last try happens at it). `nil` once the deadline has passed.
    mutating func nextDelay(now: ContinuousClock.Instant, random: Double) -> Duration? {
        guard now < deadline else { return nil }
        let delay = Self.backoff.delay(attempt: tries, random: random)
        tries += 1
        return min(delay, deadline - now)
    }
}
