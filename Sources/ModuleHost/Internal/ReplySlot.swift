import ModuleHostAPI
public import ComponentKit
import Foundation
import Synchronization

/// Where the reply to one request goes: filled once by whichever node of the
/// chain answers (or fails), awaited by the requester until the deadline.
final class ReplySlot: Sendable {
    private enum State {
        case waiting(CheckedContinuation<JSONValue, any Error>?)
        case done(Result<JSONValue, any Error>)
    }

    private let state = Mutex<State>(.waiting(nil))

    /// Fills the slot with a reply; returns false if it was already filled.
    @discardableResult
    func succeed(_ value: JSONValue) -> Bool { complete(.success(value)) }

    /// Fails the slot; returns false if it was already filled.
    @discardableResult
    func fail(_ error: any Error) -> Bool { complete(.failure(error)) }

    private func complete(_ result: Result<JSONValue, any Error>) -> Bool {
        let waiter: CheckedContinuation<JSONValue, any Error>?? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return .none }
            state = .done(result)
            return .some(continuation)
        }
        guard case .some(let continuation) = waiter else { return false }
        continuation?.resume(with: result)
        return true
    }

    /// Waits for the reply; fails with ``RequestError/deadlineExceeded`` at `deadline`.
    func wait(until deadline: Date, requestID: String) async throws -> JSONValue {
        try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONValue, any Error>) in
                        let ready: Result<JSONValue, any Error>? = self.state.withLock { state in
                            switch state {
                            case .done(let result): return result
                            case .waiting:
                                state = .waiting(continuation)
                                return nil
                            }
                        }
                        if let ready { continuation.resume(with: ready) }
                    }
                } onCancel: {
                    self.fail(CancellationError())
                }
            }
            group.addTask {
                let remaining = deadline.timeIntervalSinceNow
                if remaining > 0 { try await Task.sleep(for: .milliseconds(Int64(remaining * 1000))) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                self.fail(RequestError.deadlineExceeded(requestID))
                throw RequestError.deadlineExceeded(requestID)
            }
            return value
        }
    }
}

/// Why a request got no reply.
public enum RequestError: DeadlineReporting, Sendable, Hashable, CustomStringConvertible {
    /// No node of the chain replied before the deadline.
    case deadlineExceeded(String)
    /// `reply` was called while handling a message that is not part of a request.
    case noPendingRequest(node: String)

    public var isDeadlineExceeded: Bool {
        if case .deadlineExceeded = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .deadlineExceeded(let id): "request \(id) got no reply before its deadline"
        case .noPendingRequest(let node): "node \(node) replied, but the message it handles is not part of a request"
        }
    }
}

/// What travels with a message through one module host but not across the
/// wire: the request it belongs to, if any. Set while a handler runs so that
/// what the handler sends continues the same chain.
struct DeliveryContext: Sendable {
    var reply: ReplySlot?
    var deadline: Date?
    var traceparent: String?
    /// While a message from a durable edge is handled: where the handler's durable sends
    /// wait to be committed with its acknowledgement (``DurableHandling``).
    var durable: DurableHandling?

    @TaskLocal static var current: DeliveryContext?
}
