import Foundation

/// A condition that did not hold before its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    /// What was awaited.
    public var what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every few milliseconds until it holds; throws
/// ``DeadlineExceeded`` if it still does not after `timeout`.
public func eventually(
    _ what: String, timeout: Duration = .seconds(10), condition: @Sendable () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    throw DeadlineExceeded(what: what)
}

/// The repository root, found from this file's location.
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
