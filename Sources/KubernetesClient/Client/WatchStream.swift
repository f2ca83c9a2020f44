public import Foundation
import JSONSchemaKit
import BoundedChannels
public import KubernetesModels
import Synchronization

/// Nothing arrived on a watch for longer than its idle timeout: the
/// connection is presumed dead; reconnect from the last resourceVersion.
public struct WatchIdleError: Error, Sendable, CustomStringConvertible {
    /// The timeout that passed.
    public var timeout: Duration
    /// Creates an error.
    public init(timeout: Duration) { self.timeout = timeout }
    /// A sentence.
    public var description: String { "no watch event or bookmark for \(timeout); reconnecting" }
}

/// Splits a byte stream into newline-terminated lines (the framing of watch
/// streams), keeping an incomplete last line until more bytes arrive.
public struct LineSplitter: Sendable {
    private var buffer: [UInt8] = []

    /// An empty splitter.
    public init() {}

    /// Adds `bytes`; returns the lines they completed (without the newline, empty lines dropped).
    public mutating func append(_ bytes: [UInt8]) -> [Data] {
        buffer.append(contentsOf: bytes)
        var lines: [Data] = []
        var start = 0
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[start..<newline]
            if line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) { lines.append(Data(line)) }
            start = newline + 1
        }
        buffer.removeFirst(start)
        return lines
    }

    /// What is left when the stream ends (a last line without a newline), if anything.
    public mutating func finish() -> Data? {
        defer { buffer = [] }
        return buffer.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") })
            ? Data(buffer) : nil
    }
}

/// The events of one watch request, decoded incrementally as lines arrive.
/// `ERROR` events with `410` are thrown as ``KubernetesError`` (``KubernetesError/isGone``);
/// other `ERROR` events are thrown too. Ends when the server closes the stream.
public struct WatchStream<K: KubernetesObject>: AsyncSequence, Sendable {
    /// One event.
    public typealias Element = WatchEvent<K>

    let body: ResponseBody
    let request: KubernetesRequest
    let idleTimeout: Duration

    /// How many decoded events wait for the consumer before the reader stops
    /// reading the response (backpressure reaches the server through TCP).
    static var bufferCapacity: Int { 256 }

    /// Iterates the events.
    public func makeAsyncIterator() -> Iterator {
        let channel = BoundedChannel<Result<WatchEvent<K>, any Error>>(capacity: Self.bufferCapacity)
        let body = self.body
        let request = self.request
        let idleTimeout = self.idleTimeout
        let pump = Task {
            let lastActivity = ActivityClock()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var splitter = LineSplitter()
                    func deliver(_ line: Data) async throws {
                        let event: WatchEvent<K>
                        do {
                            event = try WatchEvent<K>(line: line)
                        } catch {
                            throw KubernetesError(
                                verb: .watch, resource: request.resource,
                                underlying: "undecodable watch event: \(error): \(String(decoding: line.prefix(300), as: UTF8.self))")
                        }
                        if case .error(let status) = event {
                            throw KubernetesError(verb: .watch, resource: request.resource, code: status.code, status: status)
                        }
                        try await channel.send(.success(event))
                        // Time spent waiting for a slow consumer is not server idleness.
                        lastActivity.touch()
                    }
                    do {
                        for try await chunk in body {
                            lastActivity.touch()
                            for line in splitter.append(chunk) { try await deliver(line) }
                        }
                        if let rest = splitter.finish() { try await deliver(rest) }
                    } catch {
                        try? await channel.send(.failure(Task.isCancelled ? CancellationError() : error))
                    }
                    channel.finish()
                }
                group.addTask {
                    let check = Swift.min(idleTimeout / 4, .seconds(1))
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: check) } catch { return }
                        let idle = ContinuousClock.now - lastActivity.last
                        if idle > idleTimeout {
                            try? await channel.send(.failure(WatchIdleError(timeout: idleTimeout)))
                            channel.finish()
                            return
                        }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        return Iterator(channel: channel, pump: PumpHandle(pump))
    }

    /// Takes the decoded events; dropping the last copy stops the reader.
    public struct Iterator: AsyncIteratorProtocol {
        let channel: BoundedChannel<Result<WatchEvent<K>, any Error>>
        let pump: PumpHandle
        var ended = false

        /// The next event; `nil` when the server closed the stream. Throws the
        /// watch's error (410 Gone, an `ERROR` event, idleness) once.
        public mutating func next() async throws -> WatchEvent<K>? {
            guard !ended else { return nil }
            let batch = try await channel.next(upTo: 1)
            guard let first = batch.first else {
                ended = true
                return nil
            }
            switch first {
            case .success(let event):
                return event
            case .failure(let error):
                ended = true
                throw error
            }
        }
    }
}

/// Cancels a watch's reader task when the last iterator holding it goes away.
final class PumpHandle: Sendable {
    private let task: Task<Void, Never>
    init(_ task: Task<Void, Never>) { self.task = task }
    deinit { task.cancel() }
}

/// When bytes last arrived on a watch, shared by its reader and its idle check.
final class ActivityClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    func touch() { instant.withLock { $0 = .now } }
    var last: ContinuousClock.Instant { instant.withLock { $0 } }
}
