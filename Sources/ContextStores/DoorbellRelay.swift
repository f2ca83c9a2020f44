import Doorbell
import Logging
import MessageStoreAPI
import ServiceLifecycle

/// Carries a message store's queue signals to the other processes sharing its SQLite file,
/// and theirs to it, through a ``Doorbell`` beside the file: SQLite has no `NOTIFY`, and the
/// module hosts of `tinyflow up` are separate processes, so without it a consumer would not
/// hear of messages another host stored (it would wake only for its own).
///
/// Runs until graceful shutdown or cancellation; until it runs (and if the doorbell cannot be
/// opened, which is logged) the process hears its own signals only.
struct DoorbellRelay: Service {
    let signals: QueueSignals
    let directory: String
    let logger: Logger

    /// A relay for the store whose file is at `path`.
    init(signals: QueueSignals, sharing path: String, logger: Logger) {
        self.signals = signals
        self.directory = Doorbell.directory(sharing: path)
        self.logger = logger
    }

    func run() async throws {
        let signals = self.signals
        let doorbell: Doorbell
        do {
            doorbell = try await Doorbell.open(directory: directory) { payload in
                signals.wakeLocally(Self.decode(payload))
            }
        } catch {
            logger.error("durable edges: no doorbell in \(directory) (\(error)); consumers hear only this process's messages")
            try? await gracefulShutdown()
            return
        }
        signals.relay { keys in doorbell.ring(Self.encode(keys)) }
        try? await gracefulShutdown()
        signals.relay { _ in }
        await doorbell.close()
    }

    /// One line per key: `w` (work) or `s` (space), then namespace, node and port, separated
    /// by a unit separator (none of them may contain one).
    static func encode(_ keys: [QueueSignals.Key]) -> [UInt8] {
        var text = ""
        for key in keys {
            let (kind, queue): (String, DurableQueue) = switch key {
            case .work(let queue): ("w", queue)
            case .space(let queue): ("s", queue)
            }
            text += "\(kind)\u{1F}\(queue.namespace)\u{1F}\(queue.node)\u{1F}\(queue.port)\n"
        }
        return Array(text.utf8)
    }

    /// The keys of a ring; lines that are not keys are skipped.
    static func decode(_ payload: [UInt8]) -> [QueueSignals.Key] {
        String(decoding: payload, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else { return nil }
            let queue = DurableQueue(namespace: fields[1], node: fields[2], port: fields[3])
            switch fields[0] {
            case "w": return .work(queue)
            case "s": return .space(queue)
            default: return nil
            }
        }
    }
}
