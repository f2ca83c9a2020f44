/// Jittered exponential backoff: `initial × multiplier^attempt`, capped at
/// `maximum`, then spread by ± `jitter` so many clients do not retry in step.
public struct Backoff: Sendable, Hashable {
    /// The first delay.
    public var initial: Duration
    /// The largest delay.
    public var maximum: Duration
    /// The growth per attempt.
    public var multiplier: Double
    /// The relative spread, 0…1: 0.2 gives delays between 80 % and 120 % of the nominal one.
    public var jitter: Double

    /// Creates a backoff.
    public init(initial: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (0-based), with `random` in 0…1 choosing the jitter.
    public func delay(attempt: Int, random: Double) -> Duration {
        let base = Self.seconds(initial) * pow(multiplier, Double(min(attempt, 64)))
        let capped = min(base, Self.seconds(maximum))
        let spread = capped * (1 + jitter * (2 * random - 1))
        return .nanoseconds(Int64(max(0, min(spread, Self.seconds(maximum) * (1 + jitter))) * 1e9))
    }

    /// The delay before retry number `attempt`, with random jitter.
    public func delay(attempt: Int) -> Duration { delay(attempt: attempt, random: Double.random(in: 0...1)) }

    static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(exponent)
        while remaining > 0 {
            result *= base
            remaining -= 1
            if result > 1e12 { return result }
        }
        return result
    }

    /// What watches use: 800 ms growing to 30 s.
    public static let watch = Backoff(initial: .milliseconds(800), maximum: .seconds(30))
}

/// How the client retries answers that may succeed later.
public struct RequestRetryPolicy: Sendable, Hashable {
    /// Tries per request, the first included.
    public var maxAttempts: Int
    /// The delay between tries when the server gives no `Retry-After`.
    public var backoff: Backoff
    /// The longest `Retry-After` honoured; longer ones fail the request.
    public var maxRetryAfter: Duration

    /// Creates a policy.
    public init(maxAttempts: Int = 5, backoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10)),
                maxRetryAfter: Duration = .seconds(60)) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.maxRetryAfter = maxRetryAfter
    }

    /// Five tries, 200 ms growing to 10 s.
    public static let `default` = RequestRetryPolicy()
    /// One try: never retry.
    public static let never = RequestRetryPolicy(maxAttempts: 1)
}
