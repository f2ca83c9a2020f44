@_exported public import Backoff

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
