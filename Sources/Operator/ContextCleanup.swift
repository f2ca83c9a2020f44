import CRDModels
import ComponentKit
import Logging
import ModuleHostAPI

/// Deleting the context of a deleted node or flow: the finalizers' last step.
extension TinyflowOperator {
    /// Deletes every key of `scope` through a module host of `namespace` (`preferring` one,
    /// then the others in address order): the hosts hold the store and share it, the operator
    /// holds no database credentials. With no module host in the namespace there is no store
    /// to clean; a host too old to know `Context` has nothing to delete either. Throws the last
    /// failure when no host could be reached, so the finalizer is retried.
    func deleteContext(_ scope: ContextScope, in namespace: String, preferring preferred: String? = nil) async throws {
        let others = Set(cachedModules(in: namespace).compactMap(ClusterPlan.address(of:))).subtracting([preferred].compactMap { $0 })
        var lastError: (any Error)?
        for address in [preferred].compactMap({ $0 }) + others.sorted() {
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
}
