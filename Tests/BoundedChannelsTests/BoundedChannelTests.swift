import Synchronization
import TestSupport
import Testing

@testable import BoundedChannels

/// A consumer that keeps what it receives in actor state.
actor Collector {
    private(set) var values: [Int] = []

    func collect(from channel: BoundedChannel<Int>) async {
        for await value in channel { values.append(value) }
    }

    func collectBatches(from channel: BoundedChannel<Int>) async throws {
        var batch: [Int] = []
        while try await channel.next(into: &batch, upTo: 3) {
            #expect(batch.count <= 3)
            values += batch
            batch.removeAll(keepingCapacity: true)
        }
    }
}

@Suite("BoundedChannel", .timeLimit(.minutes(1)))
struct BoundedChannelTests {
    @Test("a full channel suspends the sender until the consumer takes a batch")
    func backpressure() async throws {
        let channel = BoundedChannel<Int>(capacity: 2, lowWatermark: 0)
        try await channel.send(1)
        try await channel.send(2)
        let returned = Atomic(false)
        let sender = Task {
            try await channel.send(3)
            returned.store(true, ordering: .sequentiallyConsistent)
        }
        try await eventually("the third send is suspended") { channel.suspendedProducerCount == 1 }
        let returnedEarly = returned.load(ordering: .sequentiallyConsistent)
        #expect(!returnedEarly)
        #expect(channel.count == 2, "the channel never holds more than its capacity")

        #expect(try await channel.next(upTo: 2) == [1, 2])
        try await sender.value
        let returnedAfterReceive = returned.load(ordering: .sequentiallyConsistent)
        #expect(returnedAfterReceive)
        #expect(try await channel.next(upTo: 2) == [3])
    }

    @Test("several producers: every element arrives once, in per-producer order, and the channel never exceeds its capacity")
    func perProducerOrder() async throws {
        let capacity = 16
        let channel = BoundedChannel<Int>(capacity: capacity)
        let producers = 4
        let perProducer = 5_000
        let maxSeen = try await withThrowingTaskGroup(of: Int.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var n = 0
                    while n < perProducer {
                        if n % 3 == 0 {
                            try await channel.send(producer * 1_000_000 + n)
                            n += 1
                        } else {
                            let batch = (n..<min(n + 7, perProducer)).map { producer * 1_000_000 + $0 }
                            try await channel.send(contentsOf: batch)
                            n += batch.count
                        }
                    }
                    return 0
                }
            }
            group.addTask {
                var last = Array(repeating: -1, count: producers)
                var total = 0
                var maxCount = 0
                var batch: [Int] = []
                while total < producers * perProducer {
                    maxCount = max(maxCount, channel.count)
                    batch.removeAll(keepingCapacity: true)
                    _ = try await channel.next(into: &batch, upTo: 5)
                    #expect(batch.count <= 5)
                    for value in batch {
                        let (producer, n) = value.quotientAndRemainder(dividingBy: 1_000_000)
                        #expect(n == last[producer] + 1, "producer \(producer) out of order")
                        last[producer] = n
                    }
                    total += batch.count
                }
                #expect(last == Array(repeating: perProducer - 1, count: producers))
                return maxCount
            }
            var maxSeen = 0
            for try await value in group { maxSeen = max(maxSeen, value) }
            return maxSeen
        }
        #expect(maxSeen <= capacity)
        #expect(channel.count == 0)
    }

    @Test("a batch larger than the capacity goes through in parts, in order")
    func largeBatchSend() async throws {
        let channel = BoundedChannel<Int>(capacity: 4)
        let sender = Task { try await channel.send(contentsOf: 0..<100) }
        var received: [Int] = []
        while received.count < 100 {
            #expect(channel.count <= 4)
            #expect(try await channel.next(into: &received, upTo: 100))
        }
        try await sender.value
        #expect(received == Array(0..<100))
    }

    @Test("a receive takes up to the requested number of queued elements at once")
    func batchReceive() async throws {
        let channel = BoundedChannel<Int>(capacity: 16)
        try await channel.send(contentsOf: 0..<10)
        #expect(try await channel.next(upTo: 4) == [0, 1, 2, 3])
        #expect(try await channel.next(upTo: 100) == Array(4..<10))
        #expect(channel.count == 0)
    }

    @Test("a waiting consumer wakes up when an element arrives")
    func consumerWakes() async throws {
        let channel = BoundedChannel<String>(capacity: 4)
        let consumer = Task { try await channel.next(upTo: 4) }
        try await eventually("the consumer waits") { channel.hasWaitingConsumer }
        try await channel.send("hello")
        #expect(try await consumer.value == ["hello"])
    }

    @Test("after finish, sends fail with a clear error and the consumer drains what is queued, then ends")
    func finishSemantics() async throws {
        let channel = BoundedChannel<Int>(capacity: 8)
        try await channel.send(contentsOf: [1, 2, 3])
        channel.finish()
        #expect(channel.isFinished)
        await #expect(throws: BoundedChannelClosedError.self) { try await channel.send(4) }
        #expect(channel.trySend(4) == .finished)
        do {
            try await channel.send(contentsOf: [5, 6])
            Issue.record("a finished channel accepted a batch")
        } catch {
            #expect(error.reason == .finished && error.unsent == [5, 6])
        }
        var received: [Int] = []
        for await value in channel { received.append(value) }
        #expect(received == [1, 2, 3])
        #expect(try await channel.next(upTo: 4) == [])
        channel.finish()  // a second finish does nothing
    }

    @Test("finish releases suspended producers with their elements and wakes a waiting consumer")
    func finishReleasesWaiters() async throws {
        let full = BoundedChannel<Int>(capacity: 1)
        try await full.send(0)
        let single = Task { try await full.send(1) }
        let batch = Task { try await full.send(contentsOf: [2, 3]) }
        try await eventually("both producers are suspended") { full.suspendedProducerCount == 2 }
        full.finish()
        await #expect(throws: BoundedChannelClosedError.self) { try await single.value }
        do {
            try await batch.value
            Issue.record("the suspended batch was accepted by a finished channel")
        } catch let error as BoundedChannelSendError<Int> {
            #expect(error.reason == .finished && error.unsent == [2, 3])
        }
        #expect(try await full.next(upTo: 4) == [0])

        let empty = BoundedChannel<Int>(capacity: 1)
        let consumer = Task { () -> Int? in
            var iterator = empty.makeAsyncIterator()
            return await iterator.next()
        }
        try await eventually("the consumer waits") { empty.hasWaitingConsumer }
        empty.finish()
        #expect(await consumer.value == nil)
    }

    @Test("a cancelled suspended sender returns with CancellationError and the channel does not take its element")
    func cancelSuspendedSender() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        try await channel.send(1)
        let sender = Task { try await channel.send(2) }
        try await eventually("the sender is suspended") { channel.suspendedProducerCount == 1 }
        sender.cancel()
        await #expect(throws: CancellationError.self) { try await sender.value }
        #expect(channel.suspendedProducerCount == 0)
        channel.finish()
        var received: [Int] = []
        for await value in channel { received.append(value) }
        #expect(received == [1])
    }

    @Test("a cancelled suspended batch sender gets back exactly the elements the channel did not take")
    func cancelSuspendedBatchSender() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        let sender = Task { try await channel.send(contentsOf: [1, 2, 3, 4]) }
        try await eventually("the sender is suspended") { channel.suspendedProducerCount == 1 }
        sender.cancel()
        do {
            try await sender.value
            Issue.record("the cancelled send returned normally")
        } catch let error as BoundedChannelSendError<Int> {
            #expect(error.reason == .cancelled && error.unsent == [3, 4])
        }
        #expect(try await channel.next(upTo: 10) == [1, 2])
    }

    @Test("an already cancelled sender does not wait on a full channel but is accepted when there is room")
    func alreadyCancelledSender() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let result = try await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await channel.send(1)  // room: accepted
            do {
                try await channel.send(2)
                return false
            } catch {
                return error is CancellationError
            }
        }.value
        #expect(result)
        #expect(try await channel.next(upTo: 10) == [1])
    }

    @Test("a cancelled waiting consumer wakes up and leaves later elements in the channel")
    func cancelConsumer() async throws {
        let channel = BoundedChannel<Int>(capacity: 4)
        let batchConsumer = Task { try await channel.next(upTo: 4) }
        try await eventually("the consumer waits") { channel.hasWaitingConsumer }
        batchConsumer.cancel()
        await #expect(throws: CancellationError.self) { try await batchConsumer.value }
        #expect(!channel.hasWaitingConsumer)

        let iteratingConsumer = Task { () -> Int? in
            for await value in channel { return value }
            return nil
        }
        try await eventually("the iterating consumer waits") { channel.hasWaitingConsumer }
        iteratingConsumer.cancel()
        #expect(await iteratingConsumer.value == nil)

        try await channel.send(7)
        #expect(channel.count == 1)
        #expect(try await channel.next(upTo: 4) == [7])
    }

    @Test("trySend reports full instead of waiting, and succeeds again once there is room")
    func trySendFull() async throws {
        let channel = BoundedChannel<Int>(capacity: 2, lowWatermark: 1)
        #expect(channel.trySend(1) == .enqueued)
        #expect(channel.trySend(2) == .enqueued)
        #expect(channel.trySend(3) == .full)
        #expect(channel.count == 2)
        #expect(try await channel.next(upTo: 1) == [1])
        #expect(channel.trySend(3) == .enqueued)
        #expect(try await channel.next(upTo: 10) == [2, 3])
    }

    @Test("trySend does not overtake producers that are waiting for room")
    func trySendIsFair() async throws {
        let channel = BoundedChannel<Int>(capacity: 2, lowWatermark: 0)
        try await channel.send(contentsOf: [1, 2])
        let waiting = Task { try await channel.send(3) }
        try await eventually("the sender is suspended") { channel.suspendedProducerCount == 1 }
        #expect(try await channel.next(upTo: 1) == [1])
        #expect(channel.trySend(4) == .full, "a waiting producer goes first")
        #expect(try await channel.next(upTo: 1) == [2])  // now at the watermark: the waiting producer is let in
        try await waiting.value
        #expect(channel.trySend(4) == .enqueued)
        #expect(try await channel.next(upTo: 10) == [3, 4])
    }

    @Test("an actor can consume the channel, with for await or batches, into its own state")
    func actorConsumer() async throws {
        let channel = BoundedChannel<Int>(capacity: 4)
        let collector = Collector()
        let consumer = Task { await collector.collect(from: channel) }
        try await channel.send(contentsOf: 0..<10)
        channel.finish()
        await consumer.value
        #expect(await collector.values == Array(0..<10))

        let batches = BoundedChannel<Int>(capacity: 4)
        let batchCollector = Collector()
        let batchConsumer = Task { try await batchCollector.collectBatches(from: batches) }
        try await batches.send(contentsOf: 0..<10)
        batches.finish()
        try await batchConsumer.value
        #expect(await batchCollector.values == Array(0..<10))
    }

    @MainActor
    @Test("the main actor can send and receive")
    func mainActor() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        try await channel.send(1)
        #expect(channel.trySend(2) == .enqueued)
        var iterator = channel.makeAsyncIterator()
        #expect(await iterator.next() == 1)
        #expect(await iterator.next() == 2)
    }
}
