public import ComponentKit
public import ModuleHostAPI

/// A module host's control API whose `Context` and `DeadLetters` calls reach only the
/// namespace the host serves (`$POD_NAMESPACE` on a cluster): a caller of one namespace's host
/// cannot read or clear another namespace's context, nor list, replay or purge its dead
/// letters, through it, even when every module shares one database. Every other call goes to
/// `base` unchanged.
struct NamespacedContextControl: ModuleHostControl {
    let base: any ModuleHostControl
    /// The namespace whose context and dead letters the host may touch.
    let namespace: String

    func catalogue() async -> ModuleCatalogue { await base.catalogue() }
    func sync(_ desired: DesiredNodes) async -> SyncResult { await base.sync(desired) }
    func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        try await base.watchStatus(interval: interval, body)
    }
    func recentMessages(node: String) async -> [Message]? { await base.recentMessages(node: node) }

    func context(_ request: ContextRequest) async throws -> ContextResponse {
        guard request.namespace == namespace else {
            throw ContextStoreError.namespaceNotServed(namespace: request.namespace, served: namespace)
        }
        return try await base.context(request)
    }

    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        guard request.namespace == namespace else {
            throw DeadLetterAccessError.namespaceNotServed(namespace: request.namespace, served: namespace)
        }
        return try await base.deadLetters(request)
    }
}
