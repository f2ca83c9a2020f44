/// Jittered exponential backoff: `initial × multiplier^attempt`, capped at
/// `maximum`, then spread by ± `jitter` so many clients do not retry in step.
///
/// The one backoff of Tinyflow: the Kubernetes client's retries and watches,
/// the work queue's per-key delays, node restarts and edge retries in module
/// hosts, reconnects of the cross-module transport and the restarts of
/// `tinyflow up`'s child processes all compute their delays here. A
/// ``BackoffSchedule`` counts the failures of one retried thing and forgets
/// them after a healthy period (``resetAfter``).
public struct Backoff: Sendable, Hashable {
    /// The first delay.
    public var initial: Duration
    /// The largest delay (before jitter).
    public var maximum: Duration
    /// The growth per attempt.
    public var multiplier: Double
    /// The relative spread, 0…1: 0.2 gives delays between 80 % and 120 % of the nominal one.
    public var jitter: Double
    /// A try that ran at least this long without failing was healthy: a
    /// ``BackoffSchedule`` starts again from ``initial`` at its next failure.
    /// `nil`: only an explicit ``BackoffSchedule/reset()`` does.
    public var resetAfter: Duration?

    /// Creates a backoff.
    public init(initial: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0.2, resetAfter: Duration? = nil) {
        self.initial = initial
        self.maximum = Swift.max(initial, maximum)
        self.multiplier = multiplier
        self.jitter = Swift.min(1, Swift.max(0, jitter))
        self.resetAfter = resetAfter
    }

    /// The delay before retry number `attempt` (0-based), with `random` in 0…1
    /// choosing the jitter (0.5 gives the nominal delay).
    public func delay(attempt: Int, random: Double) -> Duration {
        let maximumSeconds = Self.seconds(maximum)
        var nominal = Self.seconds(initial)
        // Grows until it reaches the cap; bounded, so a huge attempt number costs nothing.
        for _ in 0..<Swift.min(Swift.max(0, attempt), 1024) where nominal < maximumSeconds {
            nominal *= multiplier
        }
        let capped = Swift.min(nominal, maximumSeconds)
        let spread = capped * (1 + jitter * (2 * Swift.min(1, Swift.max(0, random)) - 1))
        return .nanoseconds(Int64(Swift.max(0, spread) * 1e9))
    }

    /// The delay before retry number `attempt`, with random jitter.
    public func delay(attempt: Int) -> Duration { delay(attempt: attempt, random: Double.random(in: 0...1)) }

    static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }

    /// What watches use: 800 ms growing to 30 s.
    public static let watch = Backoff(initial: .milliseconds(800), maximum: .seconds(30))
}
