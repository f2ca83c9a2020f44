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

/// Debounces and batches syncs per module: requests arriving within
/// `window` of the first become one call of `perform`, and at most one
/// `perform` per module runs at a time (requests made meanwhile are batched
/// into the next one). So a burst of node changes costs one `SyncNodes` per
/// module, never one per node. The window stretches to the duration of the
/// module's last sync, up to ``maximumWindow``: a sync of a large namespace then
/// takes at most about half of the time, and its batches grow with the namespace.
actor ModuleSyncer {
    private struct Entry {
        var scheduled = false
        var running = false
        var pending = false
        var force = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var lastDuration = Duration.zero
        /// The module is gone: drop the entry once nothing is scheduled, running or awaited.
        var forgotten = false
    }

    private let window: Duration
    /// The longest the window stretches to (a slow, failed sync must not delay the next for long).
    static let maximumWindow = Duration.seconds(1)
    private let perform: @Sendable (ModuleKey, _ force: Bool) async -> Void
    private var entries: [ModuleKey: Entry] = [:]
    private var isShutDown = false

    /// A syncer calling `perform` for each batch.
    init(window: Duration, perform: @escaping @Sendable (ModuleKey, _ force: Bool) async -> Void) {
        self.window = window
        self.perform = perform
    }

    /// Asks for a sync of `key` soon; returns at once.
    func schedule(_ key: ModuleKey, force: Bool = false) {
        guard !isShutDown else { return }
        var entry = entries[key] ?? Entry()
        entry.forgotten = false
        entry.force = entry.force || force
        if entry.running {
            entry.pending = true
        } else if !entry.scheduled {
            entry.scheduled = true
            let window = max(self.window, min(entry.lastDuration, Self.maximumWindow))
            Task { [weak self] in
                try? await Task.sleep(for: window)
                await self?.fire(key)
            }
        }
        entries[key] = entry
    }

    /// Syncs `key` with a batch that starts after this call and returns when
    /// that batch was sent (even when the desired state did not change).
    func syncNow(_ key: ModuleKey) async {
        guard !isShutDown else { return }
        await withCheckedContinuation { continuation in
            entries[key, default: Entry()].waiters.append(continuation)
            schedule(key, force: true)
        }
    }

    /// Forgets `key` (its module is gone): at once if no sync of it is scheduled,
    /// running or awaited, else when the last of them is over (unless it is
    /// scheduled again meanwhile).
    func forget(_ key: ModuleKey) {
        guard let entry = entries[key] else { return }
        if entry.scheduled || entry.running || !entry.waiters.isEmpty {
            entries[key]?.forgotten = true
        } else {
            entries[key] = nil
        }
    }

    /// The modules the syncer keeps an entry for.
    var count: Int { entries.count }

    /// Stops scheduling and releases every waiter.
    func shutdown() {
        isShutDown = true
        for key in entries.keys {
            for waiter in entries[key]?.waiters ?? [] { waiter.resume() }
            entries[key]?.waiters = []
        }
    }

    private func fire(_ key: ModuleKey) async {
        guard var entry = entries[key] else { return }
        entry.scheduled = false
        entry.running = true
        entry.pending = false
        let force = entry.force
        entry.force = false
        let waiters = entry.waiters
        entry.waiters = []
        entries[key] = entry
        let started = ContinuousClock.now
        if !isShutDown { await perform(key, force) }
        for waiter in waiters { waiter.resume() }
        entries[key]?.running = false
        entries[key]?.lastDuration = ContinuousClock.now - started
        if entries[key]?.pending == true || !(entries[key]?.waiters.isEmpty ?? true) {
            entries[key]?.pending = false
            schedule(key, force: entries[key]?.force ?? false)
        } else if entries[key]?.forgotten == true, entries[key]?.scheduled == false {
            entries[key] = nil
        }
    }
}
