/// Where a component sends messages: its node's output ports.
public protocol Output: Sendable {
    /// Sends `message` from the output port `port`; returns when every wired
    /// target accepted it (which may suspend: that is backpressure). An
    /// unwired port accepts and discards nothing: the message is counted as sent.
    func send(_ port: String, _ message: Message) async throws

    /// Sends `messages` from the output port `port`, in order, as one batch:
    /// returns when every wired target accepted every message. Across modules
    /// the batch travels in as few frames as fit and the sender waits once for
    /// all their acknowledgements, which is much cheaper than one `send` per
    /// message.
    ///
    /// A failure of one message does not stop the others: the call throws a
    /// ``BatchSendError`` naming every message that was not accepted, and every
    /// message it does not name was accepted. An empty batch does nothing.
    func send(_ port: String, contentsOf messages: [Message]) async throws(BatchSendError)

    /// Sends `message` from `port` and returns the reply of the chain it
    /// starts (request/reply), bounded by the message deadline.
    func request(_ port: String, _ message: Message) async throws -> JSONValue

    /// Answers the request the message being handled belongs to (the end of
    /// a request/reply chain, e.g. an http-response node). Throws if the
    /// message is not part of a request.
    func reply(_ payload: JSONValue) async throws
}

extension Output {
    /// Sends the messages one at a time with ``send(_:_:)``, going on after a
    /// failure, and throws a ``BatchSendError`` naming those that failed.
    public func send(_ port: String, contentsOf messages: [Message]) async throws(BatchSendError) {
        var failures: [BatchSendError.Failure] = []
        for (index, message) in messages.enumerated() {
            do {
                try await send(port, message)
            } catch {
                failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }

    /// Sends a payload from `port` in a fresh message.
    public func send(_ port: String, payload: JSONValue) async throws {
        try await send(port, Message(payload: payload))
    }

    /// Sends any encodable value from `port` in a fresh message.
    public func send(_ port: String, encoding value: some Encodable) async throws {
        try await send(port, Message(payload: JSONValue(encoding: value)))
    }
}

/// An error that can mean "the deadline passed": raised by requests,
/// deliveries and transports, so components can answer timeouts specially
/// (an http-server answers 504) without depending on the runtime.
public protocol DeadlineReporting: Error {
    /// Whether this error is a missed deadline.
    var isDeadlineExceeded: Bool { get }
}

/// Some messages of a batch were not accepted (``Output/send(_:contentsOf:)``,
/// and a transport's batch send across modules). Every message of the batch
/// that ``failures`` does not name was accepted: a batch never loses a message
/// without saying so.
public struct BatchSendError: DeadlineReporting, Sendable, CustomStringConvertible {
    /// One message of the batch that was not accepted.
    public struct Failure: Sendable, CustomStringConvertible {
        /// Its position in the batch, from 0.
        public var index: Int
        /// Its message id.
        public var messageID: String
        /// Why it was not accepted.
        public var error: any Error

        /// Creates a failure.
        public init(index: Int, messageID: String, error: any Error) {
            self.index = index
            self.messageID = messageID
            self.error = error
        }

        public var description: String { "message \(messageID) (#\(index)): \(error)" }
    }

    /// How many messages the batch had.
    public var count: Int
    /// The messages that were not accepted, by ascending index, each named once.
    public var failures: [Failure]

    /// Creates the error; `failures` are sorted by index and each index is kept once (the first).
    public init(count: Int, failures: [Failure]) {
        self.count = count
        var seen = Set<Int>()
        self.failures = failures.sorted { $0.index < $1.index }.filter { seen.insert($0.index).inserted }
    }

    /// Whether every failure is a missed deadline.
    public var isDeadlineExceeded: Bool {
        !failures.isEmpty && failures.allSatisfy { ($0.error as? any DeadlineReporting)?.isDeadlineExceeded == true }
    }

    public var description: String {
        let shown = failures.prefix(5).map(\.description).joined(separator: "; ")
        let more = failures.count > 5 ? "; and \(failures.count - 5) more" : ""
        return "\(failures.count) of \(count) messages were not accepted: \(shown)\(more)"
    }
}
