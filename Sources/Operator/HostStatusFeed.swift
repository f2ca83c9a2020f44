import AsyncPrimitives
import Backoff
import Logging
import ModuleHostAPI
import ServiceLifecycle
import Synchronization

/// Keeps one `WatchNodeStatus` stream open per module-host address the
/// operator syncs to and hands every report to `receive`, which feeds the
/// controllers' queues. A `Service`: every watch is a child task of ``run()``;
/// a broken watch reconnects with backoff; an address no module uses any
/// more is dropped with ``stopWatching(_:)``. Hosts push reports when
/// something changed, so at rest nothing runs.
final class HostStatusFeed: Service, Sendable {
    /// Called with each report of the host at `address`.
    typealias Receiver = @Sendable (_ reports: [NodeStatusReport], _ address: String) -> Void

    private struct State {
        /// The addresses to watch.
        var wanted: Set<String> = []
        /// The addresses watched, with the event that ends each watch.
        var running: [String: OneShotEvent] = [:]
    }

    private let hosts: any ModuleHostConnector
    private let interval: Duration
    private let receive: Receiver
    private let logger: Logger
    private let state = Mutex(State())
    private let changes = ChangeNotifier()

    /// A feed reaching hosts through `hosts`, asking for reports at most once per `interval`.
    init(hosts: any ModuleHostConnector, interval: Duration, logger: Logger, receive: @escaping Receiver) {
        self.hosts = hosts
        self.interval = interval
        self.logger = logger
        self.receive = receive
    }

    /// Watches the host at `address` (once, however often asked).
    func watch(_ address: String) {
        if state.withLock({ $0.wanted.insert(address).inserted }) { changes.notify() }
    }

    /// Stops watching the host at `address`.
    func stopWatching(_ address: String) {
        if state.withLock({ $0.wanted.remove(address) != nil }) { changes.notify() }
    }

    /// The addresses watched or about to be.
    var addresses: Set<String> { state.withLock { $0.wanted } }

    /// Runs the watches until graceful shutdown or cancellation.
    func run() async throws {
        let subscription = changes.subscribe()
        defer { subscription.cancel() }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    await subscription.next()
                    if Task.isCancelled { break }
                    let (started, stopped) = self.state.withLock { state -> ([(String, OneShotEvent)], [OneShotEvent]) in
                        var stopped: [OneShotEvent] = []
                        for (address, stop) in state.running where !state.wanted.contains(address) {
                            stopped.append(stop)
                            state.running[address] = nil
                        }
                        var started: [(String, OneShotEvent)] = []
                        for address in state.wanted where state.running[address] == nil {
                            let stop = OneShotEvent()
                            state.running[address] = stop
                            started.append((address, stop))
                        }
                        return (started, stopped)
                    }
                    for stop in stopped { stop.signal() }
                    for (address, stop) in started {
                        group.addTask { await self.watchUntilStopped(address, stop: stop) }
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// One host's watch, reconnecting with backoff, until `stop` happens or the task is cancelled.
    private func watchUntilStopped(_ address: String, stop: OneShotEvent) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await stop.wait()
            }
            group.addTask {
                var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(5), resetAfter: .seconds(5)))
                while !Task.isCancelled {
                    schedule.started(at: .now)
                    do {
                        let connection = try await self.hosts.connection(to: address)
                        try await connection.watchStatus(interval: self.interval) { [receive = self.receive] reports in
                            receive(reports, address)
                        }
                    } catch {
                        if Task.isCancelled { return }
                        self.logger.debug("status watch of \(address) ended: \(error)")
                    }
                    do { try await Task.sleep(for: schedule.failed(at: .now)) } catch { return }
                }
            }
            // Whichever ends first (stopped, or the watch loop cancelled) ends both.
            await group.next()
            group.cancelAll()
        }
    }
}
