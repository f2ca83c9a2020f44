public import ModuleHostAPI

extension ModuleRuntime {
    /// Lists, replays or purges dead letters, or drops a deleted node's durable queues, in this
    /// host's message store; throws ``DeadLetterAccessError/noMessageStore`` when the host runs
    /// without one (`--context-store memory`), and the store's `MessageStoreError`s.
    public func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        guard let messageStore else { throw DeadLetterAccessError.noMessageStore }
        return try await messageStore.perform(request)
    }
}
