import Synchronization
import TestSupport
import Testing

@testable import GRPCTransport

@Suite("Ack outbox of a Deliver stream", .timeLimit(.minutes(1)))
struct AckOutboxTests {
    func acks(_ sequences: ClosedRange<UInt64>) -> [DeliveryAck] {
        sequences.map { DeliveryAck(sequence: $0, outcome: .accepted) }
    }

    @Test("acks appended while the writer is away go out as one frame, in order")
    func coalesces() async {
        let outbox = AckOutbox(limit: 100)
        outbox.append(contentsOf: acks(1...3))
        outbox.append(contentsOf: acks(4...4))
        outbox.append(contentsOf: acks(5...9))
        let frame = await outbox.take()
        #expect(frame?.map(\.sequence) == Array(1...9))
    }

    @Test("a parked writer is woken by the next ack, and ends once the outbox finished and is empty")
    func wakesAndEnds() async throws {
        let outbox = AckOutbox(limit: 100)
        let frames = Mutex<[[UInt64]]>([])
        let writer = Task {
            while let frame = await outbox.take() { frames.withLock { $0.append(frame.map(\.sequence)) } }
        }
        outbox.append(contentsOf: acks(1...2))
        try await eventually("the writer took the first acks") { frames.withLock { $0.count } == 1 }
        outbox.append(contentsOf: acks(3...3))
        outbox.finish()
        await writer.value
        let written = frames.withLock { $0 }.joined()
        #expect(Array(written) == [1, 2, 3], "what was appended before finish is written")
        outbox.append(contentsOf: acks(4...4))
        #expect(await outbox.take() == nil, "the stream is over: later acks have nowhere to go")
    }

    @Test("the deliverer waits while limit acks are unwritten and goes on once the writer took them")
    func bounded() async throws {
        let outbox = AckOutbox(limit: 4)
        outbox.append(contentsOf: acks(1...4))
        let passed = Mutex(false)
        let deliverer = Task {
            await outbox.waitForRoom()
            passed.withLock { $0 = true }
        }
        try await eventually("the deliverer waits for room") { outbox.hasWaitingDeliverer }
        #expect(passed.withLock { $0 } == false, "a full outbox holds the deliverer")
        #expect(await outbox.take()?.count == 4)
        await deliverer.value
        #expect(passed.withLock { $0 })
    }

    @Test("a deliverer waiting for room goes on when the stream ends or its task is cancelled")
    func waitEnds() async {
        let finished = AckOutbox(limit: 1)
        finished.append(contentsOf: acks(1...1))
        let waiting = Task { await finished.waitForRoom() }
        finished.finish()
        await waiting.value

        let cancelled = AckOutbox(limit: 1)
        cancelled.append(contentsOf: acks(1...1))
        let task = Task { await cancelled.waitForRoom() }
        task.cancel()
        await task.value
    }
}
