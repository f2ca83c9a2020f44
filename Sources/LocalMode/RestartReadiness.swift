import CRDModels
import KubernetesClient
import Logging

/// What a restart of `tinyflow up` means for the nodes' status: every module host of the
/// previous run died with it, so a `Ready=True` stored then describes nothing that runs
/// now. Before the new hosts start, such nodes are marked `Ready=Unknown` (reason
/// `Restarted`), so that neither `tinyflow up`'s progress nor kubectl shows the last run's
/// readiness as this one's; the operator sets it again from the new hosts' reports.
enum RestartReadiness {
    /// The reason of the condition.
    static let reason = "Restarted"

    /// The node's conditions after a restart, or nil when they need no change (the node
    /// was not Ready, or is being deleted).
    static func conditions(after restart: TinyNode, at now: Timestamp) -> [Condition]? {
        guard restart.metadata.deletionTimestamp == nil, var conditions = restart.status?.conditions,
            conditions.isTrue(TinyNodeCondition.ready)
        else { return nil }
        conditions.set(Condition(
            type: TinyNodeCondition.ready, status: .unknown, reason: reason,
            message: "tinyflow up restarted: waiting for the node's module host",
            observedGeneration: restart.metadata.generation, lastTransitionTime: now))
        return conditions
    }

    /// Marks the Ready nodes of `namespace` as not known to be ready. Best effort: a node
    /// that cannot be patched, or a first start whose TinyNode type is not served yet, is
    /// left as it is (the operator writes the truth once it runs) and logged.
    static func reset(client: KubernetesClient, namespace: String, logger: Logger) async {
        let nodes = client.api(TinyNode.self, namespace: namespace)
        let now = Timestamp.now()
        let stored: [TinyNode]
        do {
            stored = try await nodes.listAll().items
        } catch {
            logger.debug("no stored nodes to mark after the restart", metadata: ["error": "\(error)"])
            return
        }
        for node in stored {
            guard let name = node.metadata.name, let conditions = conditions(after: node, at: now) else { continue }
            do {
                _ = try await nodes.patchStatus(name, .merge(["status": ["conditions": try JSONValue(encoding: conditions)]]))
            } catch {
                logger.warning("could not mark the node not ready after the restart", metadata: ["node": "\(name)", "error": "\(error)"])
            }
        }
    }
}
