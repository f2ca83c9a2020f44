import AsyncPrimitives
import ComponentKit
import Logging
import MessageStoreAPI
import ModuleHostAPI

extension ModuleRuntime {
    /// The queues of `nodes` to consume though no durable edge leads to them now (`wanted`
    /// holds those that one does): queues that still hold messages stored while an edge led
    /// there — its source was deleted, the edge removed or made `memory`, or it happened while
    /// no host ran the node. They are consumed all the same, so what was stored is handled or
    /// dead-lettered, never stranded.
    ///
    /// The store is asked about the input ports of the nodes in `changed`, those this sync
    /// starts or reconfigures: a removed edge changes its target's `durableInputs`, and a host
    /// that starts starts every node. The other nodes keep the consumers they have (an idle
    /// consumer costs nothing: it waits for its queue's signal). When the store does not
    /// answer within a second, the changed nodes keep theirs too and the next sync asks again.
    func strandedQueues(of nodes: [NodeDefinition], changed: Set<String>, wanted: Set<DurableQueue>) async -> Set<DurableQueue> {
        guard let messageStore else { return [] }
        let names = Set(nodes.map(\.name))
        let consumed = durableConsumers.queues.filter { names.contains($0.node) && !wanted.contains($0) }
        let kept = Set(consumed.filter { !changed.contains($0.node) })
        var candidates: [DurableQueue] = []
        for node in nodes where changed.contains(node.name) {
            guard let component = module.components[node.component] else { continue }
            for port in component.ports where port.direction == .input && port.role == .data {
                let queue = DurableQueue(namespace: node.namespace ?? "default", node: node.name, port: port.name)
                if !wanted.contains(queue) { candidates.append(queue) }
            }
        }
        guard !candidates.isEmpty else { return kept }
        let asked = candidates
        do {
            let holding = try await withTimeout(.seconds(1)) { try await messageStore.queuesHoldingMessages(asked) }
            return kept.union(holding)
        } catch {
            logger.warning("cannot tell which input ports hold stored messages, consumers kept as they are: \(error)")
            return Set(consumed)
        }
    }
}
