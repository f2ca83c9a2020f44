/// Where a component sends messages: its node's output ports.
public protocol Output: Sendable {
    /// Sends `message` from the output port `port`; returns when every wired
    /// target accepted it (which may suspend: that is backpressure). An
    /// unwired port accepts and discards nothing: the message is counted as sent.
    func send(_ port: String, _ message: Message) async throws

    /// Sends `message` from `port` and returns the reply of the chain it
    /// starts (request/reply), bounded by the message deadline.
    func request(_ port: String, _ message: Message) async throws -> JSONValue

    /// Answers the request the message being handled belongs to (the end of
    /// a request/reply chain, e.g. an http-response node). Throws if the
    /// message is not part of a request.
    func reply(_ payload: JSONValue) async throws
}

extension Output {
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
