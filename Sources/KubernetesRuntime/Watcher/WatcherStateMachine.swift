import KubernetesClient
public import KubernetesModels

/// What a watcher reports: the whole collection after a (re)list, or one change.
public enum WatcherEvent<K: KubernetesObject>: Sendable {
    /// The collection was (re)listed: these are all the objects now. Replace the cache with them.
    case restarted([K])
    /// An object was added or modified.
    case applied(K)
    /// An object was deleted (its last state).
    case deleted(K)
}

/// The watcher as a pure state machine (kube-rs's `watcher`): no I/O, no
/// clocks. The driver asks ``nextAction()`` what to do, does it, and feeds the
/// result back; the machine says what to report.
///
/// ```
/// empty ──list──► initPage(continue) ──last page──► initListed(rv) ──watch──► watching(rv)
///   ▲                                                    ▲                       │
///   └──────────────── 410 Gone (list or watch) ──────────┼───────────────────────┤
///                                                        └── stream ended/failed ┘
/// ```
public struct WatcherStateMachine<K: KubernetesObject>: Sendable {
    /// Where the watcher is.
    public enum State: Sendable {
        /// Nothing listed yet (or the list was invalidated by a `410`).
        case empty
        /// Listing page by page; holds the pages so far and the next continue token.
        case initPage(continueToken: String, objects: [K], resourceVersion: String)
        /// Listed (or a watch ended) at `resourceVersion`: start a watch from there.
        case initListed(resourceVersion: String)
        /// A watch is open; `resourceVersion` is the last one seen.
        case watching(resourceVersion: String)
    }

    /// What the driver should do next.
    public enum Action: Sendable, Equatable {
        /// Request a page of the list (`continue` token, or nil for the first page).
        case list(continueToken: String?)
        /// Open a watch from this resourceVersion.
        case watch(resourceVersion: String)
        /// Read the next event of the open watch.
        case readWatch
    }

    /// The current state.
    public private(set) var state: State = .empty

    /// A machine in ``State/empty``.
    public init() {}

    /// The next thing to do.
    public func nextAction() -> Action {
        switch state {
        case .empty: .list(continueToken: nil)
        case .initPage(let token, _, _): .list(continueToken: token)
        case .initListed(let version): .watch(resourceVersion: version)
        case .watching: .readWatch
        }
    }

    /// A list page arrived; returns ``WatcherEvent/restarted(_:)`` after the last page.
    public mutating func listPageReceived(_ page: KubernetesList<K>) -> WatcherEvent<K>? {
        var objects: [K] = []
        var version = page.metadata.resourceVersion ?? ""
        if case .initPage(_, let earlier, let firstVersion) = state {
            objects = earlier
            version = firstVersion  // pages are one snapshot at the first page's version
        }
        objects += page.items
        if let token = page.metadata.continue, !token.isEmpty {
            state = .initPage(continueToken: token, objects: objects, resourceVersion: version)
            return nil
        }
        state = .initListed(resourceVersion: version)
        return .restarted(objects)
    }

    /// The watch request was answered; events follow.
    public mutating func watchStarted() {
        if case .initListed(let version) = state { state = .watching(resourceVersion: version) }
    }

    /// A watch event arrived; returns what to report (nothing for bookmarks).
    public mutating func watchEventReceived(_ event: WatchEvent<K>) -> WatcherEvent<K>? {
        guard case .watching(let current) = state else { return nil }
        switch event {
        case .added(let object), .modified(let object):
            state = .watching(resourceVersion: object.metadata.resourceVersion ?? current)
            return .applied(object)
        case .deleted(let object):
            state = .watching(resourceVersion: object.metadata.resourceVersion ?? current)
            return .deleted(object)
        case .bookmark(let version):
            state = .watching(resourceVersion: version.isEmpty ? current : version)
            return nil
        case .error(let status):
            if status.isGone { state = .empty } else { state = .initListed(resourceVersion: current) }
            return nil
        }
    }

    /// The watch stream ended cleanly (server timeout): resume from the last resourceVersion.
    public mutating func watchEnded() {
        if case .watching(let version) = state { state = .initListed(resourceVersion: version) }
    }

    /// A request or stream failed. `410 Gone` forces a full relist; anything
    /// else retries the same step (from the last resourceVersion) after a backoff.
    public mutating func failed(_ error: any Error) {
        let gone = (error as? KubernetesError)?.isGone ?? false
        switch state {
        case .empty: break
        case .initPage:
            state = .empty  // a failed or expired page restarts the list
        case .initListed:
            if gone { state = .empty }
        case .watching(let version):
            state = gone ? .empty : .initListed(resourceVersion: version)
        }
    }

    /// The resourceVersion the watcher has reached, if any.
    public var resourceVersion: String? {
        switch state {
        case .empty, .initPage: nil
        case .initListed(let version), .watching(let version): version
        }
    }
}
