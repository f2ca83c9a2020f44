import Synchronization

/// Whether this process currently leads, as a leader elector decides it, and
/// a stream of the changes — what controllers watch to start and stop work.
public final class LeadershipState: Sendable {
    private struct State {
        var isLeader = false
        var term: Int64 = 0
        var subscribers: [UInt64: AsyncStream<Bool>.Continuation] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Not leading.
    public init() {}

    /// Whether this process leads right now.
    public var isLeader: Bool { state.withLock { $0.isLeader } }

    /// The term it leads in (or last led in): larger than every earlier leader's, so what it
    /// sends can be ordered after what they sent (see `DesiredNodes.term`).
    public var term: Int64 { state.withLock { $0.term } }

    /// The current value, then changes. A slow subscriber sees the latest
    /// value, not every flip in between (leadership is a state, not a log).
    public func changes() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream<Bool>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            continuation.yield(state.isLeader)
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Sets the value, and the term when leading starts (the elector calls this); returns
    /// whether leadership changed.
    @discardableResult
    public func set(_ leading: Bool, term: Int64 = 0) -> Bool {
        state.withLock { state in
            if leading { state.term = term }
            guard state.isLeader != leading else { return false }
            state.isLeader = leading
            for continuation in state.subscribers.values { continuation.yield(leading) }
            return true
        }
    }

    /// Ends every stream from ``changes()``.
    public func finish() {
        let subscribers = state.withLock { state in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }
}
