/// An operation that did not finish within its time.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// How long it had.
    public var timeout: Duration

    /// Creates the error for `timeout`.
    public init(timeout: Duration) { self.timeout = timeout }

    /// `no answer within 1.5 seconds`.
    public var description: String { "no answer within \(timeout)" }
}

/// Runs `operation`, throwing ``TimeoutError`` (and cancelling it) if it takes longer than
/// `timeout`: the operation raced against a timer in a task group.
public func withTimeout<T: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError(timeout: timeout)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw TimeoutError(timeout: timeout) }
        return result
    }
}
