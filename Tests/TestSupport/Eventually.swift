public import Foundation
public import Testing

/// A condition that did not hold before its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    /// What was awaited.
    public var what: String
    /// How long it was awaited.
    public var timeout: Duration
    /// What the caller's `context` said when the deadline passed (empty if nothing).
    public var context: String

    /// Creates the error.
    public init(what: String, timeout: Duration, context: String = "") {
        self.what = what
        self.timeout = timeout
        self.context = context
    }

    public var description: String {
        "timed out after \(timeout) waiting for \(what)" + (context.isEmpty ? "" : ": \(context)")
    }
}

/// Waits until `condition` holds, polling every `interval`. If it still does not hold
/// after `timeout`, records an issue at the caller's `sourceLocation` naming `what`
/// (and whatever `context` returns then, e.g. a child process's output) and throws
/// ``DeadlineExceeded``, so the test stops there instead of going on or hanging.
///
/// The one way tests wait: no sleeping and hoping. To show that something did *not*
/// happen, wait for a later event that is ordered after it, then assert.
public func eventually(
    _ what: String,
    timeout: Duration = .seconds(10),
    interval: Duration = .milliseconds(5),
    context: () async -> String = { "" },
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    if try await condition() { return }
    let error = DeadlineExceeded(what: what, timeout: timeout, context: await context())
    Issue.record(Comment(rawValue: error.description), sourceLocation: sourceLocation)
    throw error
}

/// The repository root, found from this file's location.
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
