public import KubernetesClient
public import KubernetesModels
public import Logging

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

/// Lists and then watches a collection forever, driving a
/// ``WatcherStateMachine``: resumes from the last resourceVersion when a
/// watch ends or fails, relists (reporting ``WatcherEvent/restarted(_:)``)
/// after `410 Gone`, and backs off with jitter between failed attempts.
public struct Watcher<K: KubernetesObject>: Sendable {
    /// The API listed and watched.
    public let api: Api<K>
    /// How.
    public let configuration: WatcherConfiguration
    /// Where failures are logged.
    public let logger: Logger

    /// A watcher of `api`'s collection.
    public init(api: Api<K>, configuration: WatcherConfiguration = WatcherConfiguration(), logger: Logger = Logger(label: "tinyflow.watcher")) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the state machine, handing each event to `emit`, until cancelled.
    public func drive(_ emit: (WatcherEvent<K>) -> Void) async {
        var machine = WatcherStateMachine<K>()
        var iterator: WatchStream<K>.AsyncIterator?
        var failures = 0
        var consecutiveGone = 0
        var listParameters = ListParameters(labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector)
        listParameters.limit = configuration.pageSize
        var watchParameters = WatchParameters(
            labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector,
            timeoutSeconds: configuration.watchTimeoutSeconds)
        watchParameters.allowWatchBookmarks = true

        while !Task.isCancelled {
            do {
                switch machine.nextAction() {
                case .list(let token):
                    listParameters.continue = token
                    let page = try await api.list(listParameters)
                    if let event = machine.listPageReceived(page) { emit(event) }
                    failures = 0
                case .watch(let version):
                    let stream = try await api.watch(resourceVersion: version, watchParameters, idleTimeout: configuration.idleTimeout)
                    iterator = stream.makeAsyncIterator()
                    machine.watchStarted()
                case .readWatch:
                    if let event = try await iterator?.next() {
                        if let output = machine.watchEventReceived(event) { emit(output) }
                        failures = 0
                        consecutiveGone = 0
                    } else {
                        iterator = nil
                        machine.watchEnded()
                        consecutiveGone = 0
                    }
                }
            } catch {
                iterator = nil
                if Task.isCancelled { return }
                machine.failed(error)
                if (error as? KubernetesError)?.isGone == true {
                    consecutiveGone += 1
                    logger.info("watch expired (410); relisting", metadata: ["resource": "\(K.plural)"])
                    // Relist at once; only a server that keeps answering 410 right after a relist is backed off.
                    if consecutiveGone == 1 { continue }
                }
                let delay = configuration.backoff.delay(attempt: failures)
                failures += 1
                logger.warning("watch failed; retrying", metadata: ["resource": "\(K.plural)", "error": "\(error)", "delay": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }
}
