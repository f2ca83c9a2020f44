import Backoff
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The `LISTEN` loop of a ``PostgresMessageStore``: one connection of its own (outside the
/// pool, which lends connections only for an operation), listening on
/// ``DurableNotification/channel``, reconnecting with the package's ``Backoff`` when the
/// connection fails or the server goes away, until the task is cancelled.
///
/// It reports what happens and decides nothing: `connected` once `LISTEN` is in place (the
/// store then signals every queue it knows, since notifications sent while no connection
/// listened are lost), `received` for each payload, `disconnected` when the connection ended.
/// Every `heartbeat` it runs `SELECT 1` on the connection (one statement, not a timer that
/// polls for work): a connection that died without the socket noticing (a dropped route, a
/// database failover) would otherwise listen to nothing for ever.
struct DurableListener: Sendable {
    var store: PostgresContextStore
    var backoff: Backoff
    var heartbeat: Duration
    var logger: Logger
    var connected: @Sendable () -> Void
    var received: @Sendable (String) -> Void
    var disconnected: @Sendable () -> Void

    /// Listens until the task is cancelled.
    func run() async {
        var schedule = BackoffSchedule(backoff)
        let clock = ContinuousClock()
        var connectionID = 0
        // Failures in a row: the first is a warning, the ones that follow (every backoff step of
        // an outage) are debug lines; the reconnection after them is reported once.
        let failures = Atomic<Int>(0)
        while !Task.isCancelled {
            schedule.started(at: clock.now)
            connectionID += 1
            do {
                try await listenOnce(connectionID: connectionID) {
                    let failed = failures.exchange(0, ordering: .relaxed)
                    if failed > 0 {
                        logger.info("durable-edge notifications listening again", metadata: ["failed-attempts": "\(failed)"])
                    }
                }
            } catch where Task.isCancelled {
                break
            } catch {
                let failed = failures.add(1, ordering: .relaxed).newValue
                logger.log(
                    level: failed == 1 ? .warning : .debug,
                    "durable-edge notifications interrupted; reconnecting",
                    metadata: ["reason": "\(Self.reason(for: error))", "attempt": "\(failed)"])
            }
            disconnected()
            if Task.isCancelled { break }
            let delay = schedule.failed(at: clock.now)
            try? await Task.sleep(for: delay)
        }
        disconnected()
    }

    /// One connection's life: connect, `LISTEN`, forward notifications until it fails or the
    /// task is cancelled, close.
    private func listenOnce(connectionID: Int, listening: @escaping @Sendable () -> Void) async throws {
        let configuration: PostgresConnection.Configuration
        switch try store.directConnectionConfiguration(connectTimeout: store.configuration.connectTimeout) {
        case .success(let value): configuration = value
        case .failure(let problem): throw ListenerProblem(reason: problem.reason)
        }
        // postgres-nio's own lines only from notice up, as for the pool's background logger.
        var connectionLogger = logger
        connectionLogger.logLevel = max(logger.logLevel, .notice)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: connectionLogger)
        do {
            try await listen(on: connection, listening: listening)
        } catch {
            await Self.close(connection)
            throw error
        }
        await Self.close(connection)
    }

    /// Closes `connection` and waits until it is closed (postgres-nio requires that before it goes).
    private static func close(_ connection: PostgresConnection) async {
        _ = connection.close() as EventLoopFuture<Void>
        _ = try? await connection.closeFuture.get()
    }

    /// Forwards notifications and sends heartbeats until either fails or the task is cancelled.
    private func listen(on connection: PostgresConnection, listening: @escaping @Sendable () -> Void) async throws {
        let (heartbeat, timeout, logger) = (heartbeat, store.configuration.operationTimeout, logger)
        let (connected, received) = (connected, received)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await connection.listen(on: DurableNotification.channel) { notifications in
                    listening()
                    connected()
                    for try await notification in notifications {
                        received(notification.payload)
                    }
                }
                // The sequence ends when the task is cancelled; otherwise the connection went away.
                if !Task.isCancelled { throw ListenerProblem(reason: "the server ended the notifications") }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: heartbeat)
                    try await Self.ping(connection, timeout: timeout, logger: logger)
                }
            }
            // Closed before the group waits for its children: a child blocked on a connection
            // that stopped answering ends when the connection closes, not when it is cancelled.
            defer {
                group.cancelAll()
                _ = connection.close() as EventLoopFuture<Void>
            }
            try await group.next()
        }
    }

    /// `SELECT 1` within `timeout`, or the connection counts as dead.
    private static func ping(_ connection: PostgresConnection, timeout: Duration, logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                // On the connection's event loop, where `send` checks that it is open (a statement
                // written to a closed connection would never be answered).
                try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) {
                    for try await _ in try await connection.send("SELECT 1", logger: logger) {}
                }
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else {
                // Closing fails the unanswered statement, so its task ends and the group can return.
                _ = connection.close() as EventLoopFuture<Void>
                throw ListenerProblem(reason: "no answer to a heartbeat within \(PostgresContextStore.format(timeout))")
            }
        }
    }

    /// A reason without credentials.
    static func reason(for error: any Error) -> String {
        switch error {
        case let error as PSQLError: PostgresContextStore.reason(for: error)
        case let error as ListenerProblem: error.reason
        default: String(describing: error)
        }
    }

    /// Why listening stopped, in words.
    struct ListenerProblem: Error {
        var reason: String
    }
}
