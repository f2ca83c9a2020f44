import NIOCore
import PostgresNIO

/// Runs a task's jobs on one NIO event loop: the store runs each operation on its connection's
/// loop, where the channel opens, closes and writes, so the check in ``PostgresConnection/send(_:logger:)``
/// and the write that follows it are one step no close can come between.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Why a statement was not sent: the connection closed before it (the server went away, or
/// a cancelled operation closed it before the pool learnt so).
struct ConnectionClosedBeforeStatement: Error {}

extension PostgresConnection {
    /// Sends `query` unless the operation was cancelled or the connection closed, and returns its rows.
    ///
    /// postgres-nio loses a statement written to a closed channel (the write fails without a
    /// promise and the query's never completes), so the operation would wait forever, holding
    /// its pool lease. Both things that close a connection — the operation's own cancellation
    /// handler and the server — act on the connection's event loop, and the store runs every
    /// operation there (``EventLoopTaskExecutor``): the checks below and postgres-nio's write,
    /// which happens before `query` first suspends, run in one event-loop step.
    @discardableResult
    func send(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        assert(eventLoop.inEventLoop, "statements are sent from the connection's event loop")
        try Task.checkCancellation()
        guard !isClosed else { throw ConnectionClosedBeforeStatement() }
        return try await self.query(query, logger: logger)
    }
}

/// A value handed to a child task that runs while its owner waits for it, so never concurrently
/// (``PostgresContextStore/update(_:in:ttl:_:)``'s transform).
struct UncheckedSendable<Value>: @unchecked Sendable {
    var value: Value

    init(_ value: Value) {
        self.value = value
    }
}
