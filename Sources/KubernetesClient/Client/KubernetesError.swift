public import KubernetesModels

/// A failed API call: which verb on which resource, and the server's
/// ``Status`` when it answered (code, reason, message, details).
public struct KubernetesError: Error, Sendable, CustomStringConvertible {
    /// The verb that failed.
    public var verb: Verb
    /// The resource it was done to, e.g. `configmaps "a" in namespace "default"`.
    public var resource: String
    /// The HTTP status code, when the server answered.
    public var code: Int?
    /// The server's `Status`, when it answered (synthesised from the code if its body was not one).
    public var status: Status?
    /// A failure below HTTP or while decoding, when there was no usable answer.
    public var underlying: String?

    /// Creates an error.
    public init(verb: Verb, resource: String, code: Int? = nil, status: Status? = nil, underlying: String? = nil) {
        self.verb = verb
        self.resource = resource
        self.code = code
        self.status = status
        self.underlying = underlying
    }

    /// The server's reason, e.g. `Conflict`.
    public var reason: String? { status?.reason }
    /// `409`: a stale resourceVersion (or an apply conflict); re-read and retry.
    public var isConflict: Bool { code == 409 }
    /// `404`.
    public var isNotFound: Bool { code == 404 }
    /// `409 AlreadyExists` on create.
    public var isAlreadyExists: Bool { code == 409 && status?.reason == "AlreadyExists" }
    /// `410`: the resourceVersion or continue token is too old; relist.
    public var isGone: Bool { code == 410 || (status?.isGone ?? false) }
    /// `422`: the object is invalid; retrying the same request will not help.
    public var isInvalid: Bool { code == 422 }
    /// `429`.
    public var isTooManyRequests: Bool { code == 429 }

    /// `update configmaps "a" in namespace "default": 409 Conflict: …`.
    public var description: String {
        var text = "\(verb.rawValue) \(resource): "
        if let status {
            text += status.description
            if let causes = status.details?.causes, !causes.isEmpty {
                text += " (" + causes.map { [$0.field, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ") + ")"
            }
        } else if let code {
            text += "HTTP \(code)"
        }
        if let underlying { text += (status == nil && code == nil ? "" : ": ") + underlying }
        return text
    }
}

/// Runs `body` again when it fails with `409 Conflict`, up to `maxAttempts`
/// times with a short jittered backoff. `body` must re-read the object each
/// time (so it writes on top of the current resourceVersion); see
/// ``Api/update(_:maxAttempts:_:)`` for the usual get-modify-replace loop.
public func retryOnConflict<T: Sendable>(
    maxAttempts: Int = 5, backoff: Backoff = Backoff(initial: .milliseconds(10), maximum: .seconds(1)),
    _ body: () async throws -> T
) async throws -> T {
    var attempt = 0
    while true {
        do {
            return try await body()
        } catch let error as KubernetesError where error.isConflict && attempt + 1 < maxAttempts {
            try await Task.sleep(for: backoff.delay(attempt: attempt))
            attempt += 1
        }
    }
}
