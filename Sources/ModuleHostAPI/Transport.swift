public import ComponentKit
public import JSONSchemaKit

/// How a module host reaches nodes run by other modules' hosts.
public protocol Transport: Sendable {
    /// Sends `message` (addressed by `message.to`) to a replica of `module`;
    /// returns when that host accepted it. Throws ``TransportError``.
    func send(_ message: Message, toModule module: String) async throws
    /// Sends `messages` (each addressed by its `to`) to `module` as one batch:
    /// they go to one replica, in order, and the call returns when every one
    /// was accepted or failed. Throws a ``BatchSendError`` naming every message
    /// that was not accepted (with a ``TransportError`` or `CancellationError`);
    /// all others were accepted. The default sends them one at a time.
    func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError)
    /// Sends a request to a replica of `module` and returns the reply.
    func request(_ message: Message, toModule module: String) async throws -> JSONValue
    /// Replaces the known replica addresses (`host:port`) per module.
    func updateAddresses(_ addresses: [String: [String]]) async
}

extension Transport {
    /// Sends the messages one at a time with ``send(_:toModule:)``, going on
    /// after a failure; throws a ``BatchSendError`` naming those that failed.
    public func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError) {
        var failures: [BatchSendError.Failure] = []
        for (index, message) in messages.enumerated() {
            do {
                try await send(message, toModule: module)
            } catch {
                failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }
}

/// Why a message could not cross to another module.
public enum TransportError: DeadlineReporting, Sendable, Hashable, CustomStringConvertible {
    /// No replica address is known for the module.
    case noReplicas(module: String)
    /// No replica answered before the message deadline.
    case deadlineExceeded(module: String, messageID: String)
    /// The module's replicas cannot be reached; the reason says why.
    case unavailable(module: String, reason: String)
    /// The remote host received the message but could not deliver it.
    case rejected(module: String, reason: String)
    /// The message is larger, encoded, than a message crossing modules may be: it was not
    /// sent, and sending it again cannot succeed.
    case messageTooLarge(module: String, messageID: String, bytes: Int, limit: Int)

    /// Whether sending the same message again cannot succeed (so it is not retried).
    public var isPermanent: Bool {
        if case .messageTooLarge = self { return true }
        return false
    }

    public var isDeadlineExceeded: Bool {
        if case .deadlineExceeded = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .noReplicas(let module): "no replica address known for module \"\(module)\""
        case .deadlineExceeded(let module, let id): "message \(id) to module \"\(module)\" missed its deadline"
        case .unavailable(let module, let reason): "module \"\(module)\" is unavailable: \(reason)"
        case .rejected(let module, let reason): "module \"\(module)\" rejected the message: \(reason)"
        case .messageTooLarge(let module, let id, let bytes, let limit):
            "message \(id) to module \"\(module)\" is \(bytes) bytes encoded, more than the \(limit) bytes a message may have across modules"
        }
    }
}
