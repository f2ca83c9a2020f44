public import KubernetesClient
public import KubernetesModels
public import Logging
public import Backoff

/// How a ``Watcher`` lists and watches.
public struct WatcherConfiguration: Sendable {
    /// Only objects matching this label selector.
    public var labelSelector: String?
    /// Only objects matching this field selector.
    public var fieldSelector: String?
    /// Objects per list page.
    public var pageSize: Int = 500
    /// How long each watch request stays open before the server ends it.
    public var watchTimeoutSeconds: Int = 290
    /// Reconnect when nothing (not even a bookmark) arrived for this long.
    public var idleTimeout: Duration = .seconds(330)
    /// The backoff between failed attempts (reset after a success).
    public var backoff: Backoff = .watch

    /// The defaults.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
    }
}

/// A failed list or watch request. The watcher goes on by itself: it retries
/// the same step after `retryIn` (a relist after `410 Gone`, at once the first time).
public struct WatcherFailure: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public var error: any Error
    /// How long the watcher waits before its next request.
    public var retryIn: Duration
    /// Whether the failure was `410 Gone`: the cache is relisted.
    public var isGone: Bool

    /// Creates a failure.
    public init(error: any Error, retryIn: Duration, isGone: Bool) {
        self.error = error
        self.retryIn = retryIn
        self.isGone = isGone
    }

    public var description: String { "\(error) (retrying in \(retryIn))" }
}

/// Lists and then watches a collection forever, driving a
/// ``WatcherStateMachine``: resumes from the last resourceVersion when a
/// watch ends or fails, relists (reporting ``WatcherEvent/restarted(_:)``)
/// after `410 Gone`, and backs off with jitter between failed attempts.
///
/// It is an `AsyncSequence` of results: every event, and every failure with
/// the delay before the retry (kube-rs's watcher stream), so that the
/// consumer sees errors instead of a callback that swallows them. The
/// sequence never ends by itself; it ends when the iterating task is
/// cancelled. Iterating does all the work in the iterating task: no task of
/// its own, nothing running between two `next()` calls.
public struct Watcher<K: KubernetesObject>: AsyncSequence, Sendable {
    /// An event, or a failure the watcher will retry after a backoff.
    public typealias Element = Result<WatcherEvent<K>, WatcherFailure>

    /// The API listed and watched.
    public let api: Api<K>
    /// How.
    public let configuration: WatcherConfiguration
    /// Where failures are logged by ``drive(_:)``.
    public let logger: Logger

    /// A watcher of `api`'s collection.
    public init(api: Api<K>, configuration: WatcherConfiguration = WatcherConfiguration(), logger: Logger = Logger(label: "tinyflow.watcher")) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the watcher, handing each event to `emit` and logging failures, until cancelled.
    public func drive(_ emit: (WatcherEvent<K>) -> Void) async {
        for await result in self {
            switch result {
            case .success(let event):
                emit(event)
            case .failure(let failure) where failure.isGone && failure.retryIn == .zero:
                logger.info("watch expired (410); relisting", metadata: ["resource": "\(K.plural)"])
            case .failure(let failure):
                logger.warning(
                    "watch failed; retrying",
                    metadata: ["resource": "\(K.plural)", "error": "\(failure.error)", "delay": "\(failure.retryIn)"])
            }
        }
    }

    /// Starts listing at the first `next()`.
    public func makeAsyncIterator() -> Iterator { Iterator(watcher: self) }

    /// Steps the state machine at each `next()`.
    public struct Iterator: AsyncIteratorProtocol {
        let watcher: Watcher
        private var machine = WatcherStateMachine<K>()
        private var stream: WatchStream<K>.AsyncIterator?
        private var schedule: BackoffSchedule
        private var consecutiveGone = 0
        /// The wait before the next request, after a failure.
        private var pendingDelay: Duration?
        private var listParameters: ListParameters
        private var watchParameters: WatchParameters

        init(watcher: Watcher) {
            self.watcher = watcher
            self.schedule = BackoffSchedule(watcher.configuration.backoff)
            let configuration = watcher.configuration
            listParameters = ListParameters(labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector)
            listParameters.limit = configuration.pageSize
            watchParameters = WatchParameters(
                labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector,
                timeoutSeconds: configuration.watchTimeoutSeconds)
            watchParameters.allowWatchBookmarks = true
        }

        /// The next event or failure; `nil` once the iterating task is cancelled.
        public mutating func next() async -> Element? {
            if let delay = pendingDelay {
                pendingDelay = nil
                do { try await Task.sleep(for: delay) } catch { return nil }
            }
            while !Task.isCancelled {
                do {
                    switch machine.nextAction() {
                    case .list(let token):
                        listParameters.continue = token
                        let page = try await watcher.api.list(listParameters)
                        schedule.reset()
                        if let event = machine.listPageReceived(page) { return .success(event) }
                    case .watch(let version):
                        let opened = try await watcher.api.watch(
                            resourceVersion: version, watchParameters, idleTimeout: watcher.configuration.idleTimeout)
                        stream = opened.makeAsyncIterator()
                        machine.watchStarted()
                    case .readWatch:
                        if let event = try await stream?.next() {
                            schedule.reset()
                            consecutiveGone = 0
                            if let output = machine.watchEventReceived(event) { return .success(output) }
                        } else {
                            stream = nil
                            machine.watchEnded()
                            consecutiveGone = 0
                        }
                    }
                } catch {
                    stream = nil
                    if Task.isCancelled { return nil }
                    machine.failed(error)
                    let gone = (error as? KubernetesError)?.isGone == true
                    if gone {
                        consecutiveGone += 1
                        // Relist at once; only a server that keeps answering 410 right after a relist is backed off.
                        if consecutiveGone == 1 {
                            return .failure(WatcherFailure(error: error, retryIn: .zero, isGone: true))
                        }
                    }
                    let delay = schedule.failed(at: .now)
                    pendingDelay = delay
                    return .failure(WatcherFailure(error: error, retryIn: delay, isGone: gone))
                }
            }
            return nil
        }
    }
}
