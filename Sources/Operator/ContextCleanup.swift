import CRDModels
import ComponentKit
import Logging
import ModuleHostAPI

/// Deleting the context and the durable queues of a deleted node or flow: the finalizers'
/// last step.
extension TinyflowOperator {
    /// Deletes every key of `scope` through a module host of `namespace` (`preferring` one,
    /// then the others in address order): the hosts hold the store and share it, the operator
    /// holds no database credentials. With no module host in the namespace there is no store
    /// to clean; a host too old to know `Context` has nothing to delete either. Throws the last
    /// failure when no host could be reached, so the finalizer is retried.
    func deleteContext(_ scope: ContextScope, in namespace: String, preferring preferred: String? = nil) async throws {
        var lastError: (any Error)?
        for address in cleanupAddresses(in: namespace, preferring: preferred) {
            do {
                let response = try await hosts.connection(to: address).context(ContextRequest(.clear, scope: scope))
                logger.debug("\(scope) context deleted: \(response.removed ?? 0) keys, through the host at \(address)")
                return
            } catch ModuleHostCallError.unimplemented {
                logger.warning("the module host at \(address) keeps no context (it predates context stores); nothing to delete for \(scope)")
                return
            } catch {
                lastError = error
            }
        }
        if let lastError { throw lastError }
    }

    /// Deletes the stored messages and dead letters of `node`'s durable queues through a module
    /// host of `namespace`, as ``deleteContext(_:in:preferring:)`` deletes its context: the
    /// first host that answers decides (the hosts of an installation share one store). A host
    /// without a message store (`--context-store memory`) or too old to know `DeadLetters`
    /// keeps no queues: nothing to delete. Throws the last failure when no host could be
    /// reached, so the finalizer is retried.
    func deleteQueues(of node: String, in namespace: String, preferring preferred: String? = nil) async throws {
        let request = DeadLetterRequest(.deleteQueues, namespace: namespace, nodes: [node])
        var lastError: (any Error)?
        for address in cleanupAddresses(in: namespace, preferring: preferred) {
            do {
                let response = try await hosts.connection(to: address).deadLetters(request)
                logger.debug(
                    "durable queues of node \(namespace)/\(node) deleted: \(response.count ?? 0) messages, through the host at \(address)")
                return
            } catch DeadLetterAccessError.noMessageStore {
                logger.debug("the module host at \(address) has no message store; no durable queues to delete for \(namespace)/\(node)")
                return
            } catch ModuleHostCallError.unimplemented {
                logger.debug("the module host at \(address) predates durable edges; no durable queues to delete for \(namespace)/\(node)")
                return
            } catch {
                lastError = error
            }
        }
        if let lastError { throw lastError }
    }

    /// The module hosts of `namespace` to ask, `preferred` first, then the others in address order.
    private func cleanupAddresses(in namespace: String, preferring preferred: String?) -> [String] {
        let others = Set(cachedModules(in: namespace).compactMap(ClusterPlan.address(of:))).subtracting([preferred].compactMap { $0 })
        return [preferred].compactMap { $0 } + others.sorted()
    }
}
