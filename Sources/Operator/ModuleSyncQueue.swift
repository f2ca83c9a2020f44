import KubernetesRuntime
import ServiceLifecycle
import Synchronization

/// A module of a namespace: the unit the syncer sends `SyncNodes` for.
public struct ModuleKey: Hashable, Sendable, CustomStringConvertible {
    /// The namespace.
    public var namespace: String
    /// The TinyModule's name.
    public var module: String

    /// Creates a key.
    public init(namespace: String, module: String) {
        self.namespace = namespace
        self.module = module
    }

    /// `namespace/module`.
    public var description: String { "\(namespace)/\(module)" }
}

/// What a module sync asks for next.
enum SyncOutcome: Sendable, Equatable {
    /// Nothing until the module is asked for again.
    case done
    /// The sync failed: try again after this delay.
    case retry(after: Duration)
}

/// The module sync controller's queue: a work queue keyed by module (namespace
/// and TinyModule), whose worker plans the module's node set, sends
/// `SyncNodes` and records the result (`perform`).
///
/// A request waits `window` before its sync starts, so a burst of node changes
/// is one sync per module; a module is never synced twice at once, and
/// requests made during its sync are one more sync, a window after it. The
/// window stretches to the module's last sync duration, up to
/// ``maximumWindow``: a sync of a large namespace then takes at most about
/// half of the time, and its batches grow with the namespace.
final class ModuleSyncQueue: Service, Sendable {
    /// Plans, sends and records one module's sync; `force` skips the "unchanged since the last sync" shortcut.
    typealias Perform = @Sendable (ModuleKey, _ force: Bool) async -> SyncOutcome

    /// The longest the window stretches to (a slow, failed sync must not delay the next for long).
    static let maximumWindow = Duration.seconds(1)

    private struct Entry {
        var running = false
        var pending = false
        var force = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var lastDuration = Duration.zero
        /// The module is gone: drop the entry once nothing is queued, running or awaited.
        var forgotten = false
    }

    private let window: Duration
    private let workers: Int
    private let perform: Perform
    private let queue = WorkQueue<ModuleKey>()
    private let entries = Mutex<(table: [ModuleKey: Entry], isShutDown: Bool)>(([:], false))

    /// A queue calling `perform` for each batch, on `workers` modules at once.
    init(window: Duration, workers: Int = 4, perform: @escaping Perform) {
        self.window = window
        self.workers = max(1, workers)
        self.perform = perform
    }

    /// Asks for a sync of `key` soon (a window from now, or `after` if later); returns at once.
    func schedule(_ key: ModuleKey, force: Bool = false, after delay: Duration = .zero) {
        let wait: Duration? = entries.withLock { entries in
            guard !entries.isShutDown else { return nil }
            var entry = entries.table[key] ?? Entry()
            entry.forgotten = false
            entry.force = entry.force || force
            defer { entries.table[key] = entry }
            if entry.running {
                entry.pending = true
                return nil
            }
            return max(delay, max(window, min(entry.lastDuration, Self.maximumWindow)))
        }
        if let wait { queue.add(key, after: wait) }
    }

    /// Syncs `key` with a batch that starts after this call and returns when
    /// that batch was sent (even when the desired state did not change), or
    /// when the queue shuts down.
    func syncNow(_ key: ModuleKey) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = entries.withLock { entries -> Bool in
                guard !entries.isShutDown else { return false }
                entries.table[key, default: Entry()].waiters.append(continuation)
                return true
            }
            if accepted { schedule(key, force: true) } else { continuation.resume() }
        }
    }

    /// Forgets `key` (its module is gone): at once if no sync of it is queued,
    /// running or awaited, else once the last of them is over (unless it is
    /// asked for again meanwhile).
    func forget(_ key: ModuleKey) {
        entries.withLock { entries in
            guard let entry = entries.table[key] else { return }
            if entry.running || !entry.waiters.isEmpty || entry.pending {
                entries.table[key]?.forgotten = true
            } else {
                entries.table[key] = nil
            }
        }
    }

    /// The modules the queue keeps an entry for.
    var count: Int { entries.withLock { $0.table.count } }

    /// Runs the workers until graceful shutdown or cancellation; then releases every waiter.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    for _ in 0..<self.workers {
                        group.addTask { await self.work() }
                    }
                }
            } onCancel: {
                // The workers' `queue.next()` returns nil once the queue is shut down.
                self.shutdown()
            }
        }
        shutdown()
    }

    /// Stops taking keys and releases every waiter.
    func shutdown() {
        let waiters = entries.withLock { entries -> [CheckedContinuation<Void, Never>] in
            entries.isShutDown = true
            var waiters: [CheckedContinuation<Void, Never>] = []
            for key in entries.table.keys {
                waiters += entries.table[key]?.waiters ?? []
                entries.table[key]?.waiters = []
            }
            return waiters
        }
        queue.shutdown()
        for waiter in waiters { waiter.resume() }
    }

    private func work() async {
        while let key = await queue.next() {
            await process(key)
            queue.done(key)
        }
    }

    private func process(_ key: ModuleKey) async {
        let taken = entries.withLock { entries -> (force: Bool, waiters: [CheckedContinuation<Void, Never>])? in
            guard !entries.isShutDown, var entry = entries.table[key] else { return nil }
            entry.running = true
            entry.pending = false
            defer {
                entry.force = false
                entry.waiters = []
                entries.table[key] = entry
            }
            return (entry.force, entry.waiters)
        }
        guard let taken else { return }
        let started = ContinuousClock.now
        let outcome = await perform(key, taken.force)
        for waiter in taken.waiters { waiter.resume() }
        let delay: Duration? = entries.withLock { entries in
            guard var entry = entries.table[key] else { return nil }
            entry.running = false
            entry.lastDuration = ContinuousClock.now - started
            var delay: Duration?
            if entry.pending || !entry.waiters.isEmpty {
                // Asked for during the sync: one more, a (stretched) window after it.
                entry.pending = false
                delay = max(window, min(entry.lastDuration, Self.maximumWindow))
            } else if case .retry(let after) = outcome, !entry.forgotten {
                delay = after
            }
            if delay == nil && entry.forgotten {
                entries.table[key] = nil
            } else {
                entries.table[key] = entry
            }
            return delay
        }
        if let delay { queue.add(key, after: delay) }
    }
}
