/// When a write that found the file's write lock held by another process tries again: after
/// a short random delay that grows with each try (1 ms doubling to 50 ms, each drawn between
/// half and all of that, so waiting writers do not retry in step), until the operation's
/// deadline.
///
/// Pure: no clock, no sleeping. The store asks it for the next delay and sleeps for it.
struct LockWait {
    /// When the operation gives up.
    let deadline: ContinuousClock.Instant
    /// The next delay before jitter.
    private var nominal = Self.initial

    static let initial = Duration.milliseconds(1)
    static let maximum = Duration.milliseconds(50)

    /// Starts waiting at `start`, for at most `timeout`.
    init(timeout: Duration, start: ContinuousClock.Instant) {
        deadline = start + timeout
    }

    /// How long to wait before the next try, with `random` in 0…1 choosing the jitter; never
    /// past the deadline (the last try happens at it). `nil` once the deadline has passed.
    mutating func nextDelay(now: ContinuousClock.Instant, random: Double) -> Duration? {
        guard now < deadline else { return nil }
        let delay = nominal * (0.5 + 0.5 * min(1, max(0, random)))
        nominal = min(nominal * 2, Self.maximum)
        return min(delay, deadline - now)
    }
}
