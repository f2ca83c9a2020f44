import Synchronization

/// The acks of one `Deliver` stream on their way to the client: the stream's
/// deliverer and its request tasks append, and the stream's ack writer takes
/// everything appended since its last write as **one** frame. Acks coalesce
/// while a write is under way, so a client that sends many small frames gets
/// few large ack frames instead of one per frame, and nothing waits for a
/// timer: a lone ack is written at once.
///
/// Bounded: the deliverer calls ``waitForRoom()`` before it reads the next
/// frame, and waits while ``limit`` acks are still unwritten (a client that
/// does not read its acks stops being read). Requests' acks (at most the
/// stream's concurrent requests) are appended without waiting.
final class AckOutbox: Sendable {
    private struct State {
        var acks: [DeliveryAck] = []
        /// The ack writer, parked on an empty outbox.
        var writer: CheckedContinuation<Void, Never>?
        /// The deliverer, parked on a full outbox.
        var deliverer: CheckedContinuation<Void, Never>?
        /// No more acks come (or nobody writes them any more).
        var finished = false
    }

    /// Unwritten acks beyond which the deliverer waits.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Whether the deliverer waits for room (for tests).
    var hasWaitingDeliverer: Bool { state.withLock { $0.deliverer != nil } }

    /// Appends acks; wakes the parked writer. Dropped once finished (the stream is over).
    func append(contentsOf acks: [DeliveryAck]) {
        guard !acks.isEmpty else { return }
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            if state.acks.isEmpty, state.writer == nil {
                state.acks = acks
                return nil
            }
            state.acks.append(contentsOf: acks)
            defer { state.writer = nil }
            return state.writer
        }?.resume()
    }

    /// Returns once fewer than ``limit`` acks are unwritten, the outbox finished, or the task is cancelled.
    func waitForRoom() async {
        while true {
            let full = state.withLock { $0.acks.count >= limit && !$0.finished }
            if !full || Task.isCancelled { return }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let parked = state.withLock { state -> Bool in
                        guard state.acks.count >= limit, !state.finished, !Task.isCancelled else { return false }
                        state.deliverer = continuation
                        return true
                    }
                    if !parked { continuation.resume() }
                }
            } onCancel: {
                state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.deliverer = nil }
                    return state.deliverer
                }?.resume()
            }
        }
    }

    /// Every ack appended since the last call, waiting while there is none;
    /// `nil` once the outbox finished and is empty (or the task is cancelled).
    func take() async -> [DeliveryAck]? {
        while true {
            enum Next { case acks([DeliveryAck], wake: CheckedContinuation<Void, Never>?), end, wait }
            let next = state.withLock { state -> Next in
                if !state.acks.isEmpty {
                    var taken: [DeliveryAck] = []
                    swap(&taken, &state.acks)
                    defer { state.deliverer = nil }
                    return .acks(taken, wake: state.deliverer)
                }
                return state.finished ? .end : .wait
            }
            switch next {
            case .acks(let acks, let deliverer):
                deliverer?.resume()
                return acks
            case .end:
                return nil
            case .wait:
                if Task.isCancelled { return nil }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let parked = state.withLock { state -> Bool in
                        guard state.acks.isEmpty, !state.finished, !Task.isCancelled else { return false }
                        state.writer = continuation
                        return true
                    }
                    if !parked { continuation.resume() }
                }
            } onCancel: {
                state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.writer = nil }
                    return state.writer
                }?.resume()
            }
        }
    }

    /// No more acks: the writer writes what is left and ends; a waiting deliverer goes on.
    func finish() {
        let (writer, deliverer) = state.withLock { state in
            state.finished = true
            defer {
                state.writer = nil
                state.deliverer = nil
            }
            return (state.writer, state.deliverer)
        }
        writer?.resume()
        deliverer?.resume()
    }
}
