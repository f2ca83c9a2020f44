import AsyncPrimitives
import MessageStoreAPI
import ModuleHostAPI
import Synchronization

/// The durable consumers a runtime keeps, by queue: the node each serves, whether its task
/// was started, and the events that stop it and tell that it stopped.
///
/// A sync decides which queues should have consumers (``desiredQueues(of:)``): those it no
/// longer wants, or whose node was replaced, are stopped before their nodes; new ones are
/// registered at once and started once their node took its settings.
final class DurableConsumers: Sendable {
    /// One consumer.
    struct Entry: Sendable {
        /// The node whose handler it calls.
        let node: NodeInstance
        /// Asks it to stop after the batch it handles.
        let stop = OneShotEvent()
        /// Happens when its task ended.
        let stopped = OneShotEvent()
        /// Its task runs inside it: a stop not done by the stop timeout cancels it.
        let tasks = TaskCanceller()
        /// Whether its task was started.
        var started = false
    }

    private let entries = Mutex<[DurableQueue: Entry]>([:])

    /// The queues the node definitions want consumers for: one per durable input port.
    static func desiredQueues(of definitions: some Sequence<NodeDefinition>) -> Set<DurableQueue> {
        var queues: Set<DurableQueue> = []
        for definition in definitions {
            for port in definition.durableInputs ?? [] {
                queues.insert(DurableQueue(namespace: definition.namespace ?? "default", node: definition.name, port: port))
            }
        }
        return queues
    }

    /// Removes and returns the consumers not in `desired`, or whose node is no longer the
    /// one `current` names (it was replaced or stopped).
    func removeUnwanted(desired: Set<DurableQueue>, current: (String) -> NodeInstance?) -> [(DurableQueue, Entry)] {
        entries.withLock { entries in
            let unwanted = entries.filter { queue, entry in !desired.contains(queue) || current(queue.node) !== entry.node }
            for queue in unwanted.keys { entries[queue] = nil }
            return Array(unwanted)
        }
    }

    /// Registers a consumer for each queue of `desired` that has none and whose node
    /// `current` names.
    func register(desired: Set<DurableQueue>, current: (String) -> NodeInstance?) {
        entries.withLock { entries in
            for queue in desired where entries[queue] == nil {
                if let node = current(queue.node) { entries[queue] = Entry(node: node) }
            }
        }
    }

    /// Marks the registered, not yet started consumers of `node` started and returns them.
    func startable(of node: NodeInstance) -> [(DurableQueue, Entry)] {
        entries.withLock { entries in
            var ready: [(DurableQueue, Entry)] = []
            for (queue, entry) in entries where entry.node === node && !entry.started {
                entries[queue]?.started = true
                ready.append((queue, entry))
            }
            return ready
        }
    }

    /// Removes and returns every consumer.
    func removeAll() -> [(DurableQueue, Entry)] {
        entries.withLock { entries in
            defer { entries = [:] }
            return Array(entries)
        }
    }

    /// The queues with consumers.
    var queues: [DurableQueue] { entries.withLock { Array($0.keys) } }
}
