import BoundedChannels

/// A small message with the time it was sent, for latency runs.
struct Stamped: Sendable {
    var sequence: Int
    var sentAt: UInt64
}

/// The workloads of `tinyflow-bench runtime`. Each runs producer and consumer as separate
/// tasks on the global executor, checks that every message arrived, and returns the elapsed
/// seconds (or the latency histogram).
enum ChannelWorkloads {
    // MARK: Throughput, one edge

    /// One producer sends `messages` Ints one at a time; the consumer iterates with `for await`.
    static func nodeChannelSingle(messages: Int, capacity: Int) async -> Double {
        let channel = BoundedChannel<Int>(capacity: capacity)
        return await timed(messages: messages) {
            for value in 0..<messages { try! await channel.send(value) }
            channel.finish()
        } consumer: {
            await countAndSum(channel)
        }
    }

    /// One producer sends `messages` Ints in batches of `batch`; the consumer takes up to
    /// `capacity` per receive.
    static func nodeChannelBatched(messages: Int, capacity: Int, batch: Int) async -> Double {
        let channel = BoundedChannel<Int>(capacity: capacity)
        return await timed(messages: messages) {
            var chunk: [Int] = []
            chunk.reserveCapacity(batch)
            var next = 0
            while next < messages {
                chunk.removeAll(keepingCapacity: true)
                let end = Swift.min(next + batch, messages)
                for value in next..<end { chunk.append(value) }
                next = end
                try! await channel.send(contentsOf: chunk)
            }
            channel.finish()
        } consumer: {
            await drain(channel, upTo: capacity)
        }
    }

    /// `producers` tasks send `messages` Ints in total, one at a time, into one channel (a
    /// fan-in port); the consumer iterates with `for await`.
    static func nodeChannelFanIn(messages: Int, capacity: Int, producers: Int) async -> Double {
        let channel = BoundedChannel<Int>(capacity: capacity)
        return await timed(messages: messages) {
            await withTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for value in stride(from: producer, to: messages, by: producers) { try! await channel.send(value) }
                    }
                }
            }
            channel.finish()
        } consumer: {
            await countAndSum(channel)
        }
    }

    /// The baseline: `AsyncStream` with a bounded buffer (`.bufferingOldest(capacity)`). It has
    /// no backpressure, so the producer yields again after `Task.yield()` when an element is
    /// dropped: every message arrives, as with the channel.
    static func asyncStream(messages: Int, capacity: Int) async -> Double {
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(capacity))
        return await timed(messages: messages) {
            for value in 0..<messages { await yieldWaiting(value, to: continuation) }
            continuation.finish()
        } consumer: {
            await countAndSum(stream)
        }
    }

    // MARK: Throughput, a 3-stage pipeline

    /// source → transform → sink over two channels, like ticker → transform → debug: the
    /// source sends one message at a time, the transform forwards each batch it receives with
    /// one batched send, the sink counts.
    static func nodeChannelPipeline(messages: Int, capacity: Int) async -> Double {
        let first = BoundedChannel<Int>(capacity: capacity)
        let second = BoundedChannel<Int>(capacity: capacity)
        return await timed(messages: messages) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for value in 0..<messages { try! await first.send(value) }
                    first.finish()
                }
                group.addTask {
                    var batch: [Int] = []
                    batch.reserveCapacity(capacity)
                    while try! await first.next(into: &batch, upTo: capacity) {
                        for index in batch.indices { batch[index] &+= 1 }
                        try! await second.send(contentsOf: batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                    second.finish()
                }
            }
        } consumer: {
            let (count, sum) = await drain(second, upTo: capacity)
            return (count, sum &- count)  // undo the transform's + 1 for the check
        }
    }

    /// The same pipeline over bounded `AsyncStream`s.
    static func asyncStreamPipeline(messages: Int, capacity: Int) async -> Double {
        let (first, firstInput) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(capacity))
        let (second, secondInput) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(capacity))
        return await timed(messages: messages) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for value in 0..<messages { await yieldWaiting(value, to: firstInput) }
                    firstInput.finish()
                }
                group.addTask {
                    for await value in first { await yieldWaiting(value &+ 1, to: secondInput) }
                    secondInput.finish()
                }
            }
        } consumer: {
            var count = 0
            var sum = 0
            for await value in second {
                count += 1
                sum &+= value &- 1
            }
            return (count, sum)
        }
    }

    // MARK: Latency

    /// The producer sends `messages` stamped messages one at a time, paced at `rate` per
    /// second; the consumer records, per received batch, how long each message took from the
    /// call to `send` to the consumer having it.
    ///
    /// Pacing at sub-microsecond intervals cannot sleep, so the producer (the load generator,
    /// not the channel) spins on the clock between sends.
    static func nodeChannelLatency(messages: Int, capacity: Int, rate: Double) async -> LatencyHistogram {
        let channel = BoundedChannel<Stamped>(capacity: capacity)
        return await pacedLatency(messages: messages, rate: rate) { message in
            try! await channel.send(message)
        } finish: {
            channel.finish()
        } consumer: {
            var histogram = LatencyHistogram()
            var batch: [Stamped] = []
            batch.reserveCapacity(capacity)
            while try! await channel.next(into: &batch, upTo: capacity) {
                let now = monotonicNanoseconds()
                for message in batch { histogram.record(now &- message.sentAt) }
                batch.removeAll(keepingCapacity: true)
            }
            return histogram
        }
    }

    /// The same paced run over a bounded `AsyncStream`.
    static func asyncStreamLatency(messages: Int, capacity: Int, rate: Double) async -> LatencyHistogram {
        let (stream, continuation) = AsyncStream.makeStream(of: Stamped.self, bufferingPolicy: .bufferingOldest(capacity))
        return await pacedLatency(messages: messages, rate: rate) { message in
            await yieldWaiting(message, to: continuation)
        } finish: {
            continuation.finish()
        } consumer: {
            var histogram = LatencyHistogram()
            for await message in stream { histogram.record(monotonicNanoseconds() &- message.sentAt) }
            return histogram
        }
    }

    /// One message in flight at a time: the producer sends a stamped message and waits for the
    /// consumer's acknowledgement on a second channel before sending the next, so every hop
    /// finds the consumer parked on an empty channel and measures the wake-up.
    static func nodeChannelIdleLatency(messages: Int) async -> LatencyHistogram {
        let forward = BoundedChannel<Stamped>(capacity: 1)
        let acknowledgements = BoundedChannel<Int>(capacity: 1)
        return await pingPong(messages: messages) { message in
            try! await forward.send(message)
            var iterator = acknowledgements.makeAsyncIterator()
            _ = await iterator.next()
        } finish: {
            forward.finish()
        } consumer: {
            var histogram = LatencyHistogram()
            for await message in forward {
                histogram.record(monotonicNanoseconds() &- message.sentAt)
                try! await acknowledgements.send(message.sequence)
            }
            return histogram
        }
    }

    /// The same ping-pong over two `AsyncStream`s.
    static func asyncStreamIdleLatency(messages: Int) async -> LatencyHistogram {
        let (forward, forwardInput) = AsyncStream.makeStream(of: Stamped.self, bufferingPolicy: .bufferingOldest(1))
        let (acknowledgements, acknowledgementInput) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(1))
        let acknowledged = AsyncStreamBox(acknowledgements)
        return await pingPong(messages: messages) { message in
            await yieldWaiting(message, to: forwardInput)
            _ = await acknowledged.next()
        } finish: {
            forwardInput.finish()
        } consumer: {
            var histogram = LatencyHistogram()
            for await message in forward {
                histogram.record(monotonicNanoseconds() &- message.sentAt)
                await yieldWaiting(message.sequence, to: acknowledgementInput)
            }
            return histogram
        }
    }

    // MARK: Helpers

    private static func pingPong(
        messages: Int,
        exchange: @escaping @Sendable (Stamped) async -> Void,
        finish: @escaping @Sendable () -> Void,
        consumer: @escaping @Sendable () async -> LatencyHistogram
    ) async -> LatencyHistogram {
        let histogram = await withTaskGroup(of: LatencyHistogram?.self) { group in
            group.addTask { await consumer() }
            group.addTask {
                for sequence in 0..<messages {
                    await exchange(Stamped(sequence: sequence, sentAt: monotonicNanoseconds()))
                }
                finish()
                return nil
            }
            var result = LatencyHistogram()
            for await value in group { if let value { result = value } }
            return result
        }
        precondition(histogram.total == UInt64(messages), "received \(histogram.total) messages, expected \(messages)")
        return histogram
    }

    /// Counts and sums what `values` yields until it ends: the consumer's check that every
    /// message arrived once.
    private static func countAndSum<Values: AsyncSequence<Int, Never>>(_ values: Values) async -> (count: Int, sum: Int) {
        var count = 0
        var sum = 0
        for await value in values {
            count += 1
            sum &+= value
        }
        return (count, sum)
    }

    private static func timed(
        messages: Int,
        producer: @escaping @Sendable () async -> Void,
        consumer: @escaping @Sendable () async -> (count: Int, sum: Int)
    ) async -> Double {
        let start = monotonicNanoseconds()
        let (count, sum) = await withTaskGroup(of: (Int, Int)?.self) { group in
            group.addTask { await consumer() }
            group.addTask {
                await producer()
                return nil
            }
            var result = (0, 0)
            for await value in group { if let value { result = value } }
            return result
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        precondition(
            count == messages && sum == messages * (messages - 1) / 2,
            "received \(count) messages (sum \(sum)), expected \(messages)"
        )
        return elapsed
    }

    private static func pacedLatency(
        messages: Int,
        rate: Double,
        send: @escaping @Sendable (Stamped) async -> Void,
        finish: @escaping @Sendable () -> Void,
        consumer: @escaping @Sendable () async -> LatencyHistogram
    ) async -> LatencyHistogram {
        let histogram = await withTaskGroup(of: LatencyHistogram?.self) { group in
            group.addTask { await consumer() }
            group.addTask {
                let interval = 1e9 / rate
                let start = monotonicNanoseconds()
                for sequence in 0..<messages {
                    let due = start &+ UInt64(Double(sequence) * interval)
                    var now = monotonicNanoseconds()
                    while now < due {
                        await Task.yield()
                        now = monotonicNanoseconds()
                    }
                    await send(Stamped(sequence: sequence, sentAt: now))
                }
                finish()
                return nil
            }
            var result = LatencyHistogram()
            for await value in group { if let value { result = value } }
            return result
        }
        precondition(histogram.total == UInt64(messages), "received \(histogram.total) messages, expected \(messages)")
        return histogram
    }

    private static func drain(_ channel: BoundedChannel<Int>, upTo maxCount: Int) async -> (count: Int, sum: Int) {
        var batch: [Int] = []
        batch.reserveCapacity(maxCount)
        var count = 0
        var sum = 0
        while try! await channel.next(into: &batch, upTo: maxCount) {
            count += batch.count
            for value in batch { sum &+= value }
            batch.removeAll(keepingCapacity: true)
        }
        return (count, sum)
    }

    /// Yields to a bounded `AsyncStream`, retrying after `Task.yield()` while it is full.
    private static func yieldWaiting<Element: Sendable>(_ element: Element, to continuation: AsyncStream<Element>.Continuation) async {
        while case .dropped = continuation.yield(element) { await Task.yield() }
    }
}

/// Lets the ping-pong's producer task await the next acknowledgement from one iterator it
/// keeps across messages (an `AsyncStream` allows a single iterator).
private final class AsyncStreamBox<Element: Sendable>: @unchecked Sendable {
    // Invariant: only the ping-pong's producer task calls `next()`, one call at a time, so
    // the iterator is never used concurrently.
    private var iterator: AsyncStream<Element>.AsyncIterator

    init(_ stream: AsyncStream<Element>) {
        iterator = stream.makeAsyncIterator()
    }

    func next() async -> Element? {
        await iterator.next()
    }
}
