import AsyncPrimitives
import ComponentKit
import Foundation
import JSONSchemaKit
import Synchronization


/// The module the durable figures run: a timestamping source and a sink that measures, in
/// one module runtime (the in-module figures) or in two module-host processes (the
/// cross-host figures, `tinyflow-bench durable-host`).
enum DurableBenchModule {
    static let definition = ModuleDefinition(
        name: "bench", version: "1", components: [DurableBenchSource.self, DurableBenchSink.self])
}

/// The machine's monotonic clock in nanoseconds (Dispatch's uptime: `CLOCK_MONOTONIC` on
/// Linux): one clock for every process of the machine, so a timestamp a source took in one
/// process can be subtracted from one a sink takes in another.
@inline(__always)
func systemMonotonicNanoseconds() -> Int {
    Int(monotonicNanoseconds())
}

/// Sends `messages` small messages whose payload is `{"t": <send time>}` (``systemMonotonicNanoseconds()``),
/// from `senders` concurrent tasks, as fast as the edge takes them or paced at `rate` messages
/// per second in all; stops early at `stopAt`. Then idles (a source that returned would be restarted).
struct DurableBenchSource: RunningComponent {
    @Schema
    struct Settings: Codable, Sendable {
        /// Messages to send.
        var messages: Int = 1000
        /// Concurrent sending tasks (each sends every `senders`-th message).
        var senders: Int = 1
        /// Messages per second in all; 0: as fast as the edge takes them.
        var rate: Double = 0
        /// ``systemMonotonicNanoseconds()`` after which nothing more is sent; 0: no limit.
        var stopAt: Int = 0
    }

    static let info = ComponentInfo(name: "durable-bench-source", description: "Sends timestamped messages for tinyflow-bench durable.")
    static let ports: [PortDefinition] = [.settings(Settings.self), .output("out", message: JSONValue.self)]

    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {}

    func run(context: NodeContext, output: any Output) async throws {
        let settings: Settings = try context.settings()
        let senders = max(1, settings.senders)
        let start = systemMonotonicNanoseconds()
        let interval = settings.rate > 0 ? 1e9 / settings.rate : 0
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var index = sender
                    while index < settings.messages {
                        var sentAt = systemMonotonicNanoseconds()
                        if interval > 0 {
                            // Paced: message `index` is due at its slot. Early, sleep until then; late,
                            // it counts from its slot, so a sender held up does not hide the wait.
                            let due = start + Int(Double(index) * interval)
                            if due - sentAt > 50_000 {
                                try? await Task.sleep(for: .nanoseconds(due - sentAt))
                                sentAt = systemMonotonicNanoseconds()
                            } else {
                                sentAt = min(sentAt, due)
                            }
                        }
                        if settings.stopAt > 0, sentAt >= settings.stopAt { return }
                        let message = Message(id: String(index), payload: .object(["t": .integer(sentAt)]))
                        do {
                            try await output.send("out", message)
                        } catch {
                            return  // the sink then finishes at `stopAt` with what arrived
                        }
                        index += senders
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(3600))
    }
}

/// Records, for every message, its latency (handled now − sent at `t`) and the run's first
/// send and last handling, in ``DurableRunRegistry/shared`` under `run`. When `expect` messages
/// arrived, or at the first message handled after `stopAt`, the run is finished: its result is
/// published to the registry and, with `report`, written to that file as JSON (how a sink in
/// another process hands it to the bench).
final class DurableBenchSink: Component {
    @Schema
    struct Settings: Codable, Sendable {
        /// The run's name.
        var run: String = ""
        /// Messages after which the run is finished.
        var expect: Int = 0
        /// ``systemMonotonicNanoseconds()`` after which the first message handled finishes the run; 0: no limit.
        var stopAt: Int = 0
        /// A file to write the result to, as JSON; empty: none.
        var report: String = ""
    }

    static let info = ComponentInfo(name: "durable-bench-sink", description: "Measures timestamped messages for tinyflow-bench durable.")
    static let ports: [PortDefinition] = [.settings(Settings.self), .input("in", message: JSONValue.self)]

    /// Read once, at the first message.
    private let settings = Mutex<Settings?>(nil)

    init() {}

    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let handledAt = systemMonotonicNanoseconds()
        guard port == "in", case .object(let fields) = message.payload, case .integer(let sentAt)? = fields["t"] else { return }
        let settings = try self.settings.withLock { cached in
            if let cached { return cached }
            let read: Settings = try context.settings()
            cached = read
            return read
        }
        guard
            let result = DurableRunRegistry.shared.record(
                run: settings.run, expect: settings.expect, stopAt: settings.stopAt, sentAt: sentAt, handledAt: handledAt)
        else { return }
        if !settings.report.isEmpty {
            let data = try JSONEncoder().encode(result)
            let temporary = settings.report + ".partial"
            try data.write(to: URL(fileURLWithPath: temporary))
            _ = rename(temporary, settings.report)
        }
    }
}

/// What a sink measured in one run. Times are ``systemMonotonicNanoseconds()``.
struct DurableRunResult: Codable, Sendable, Hashable {
    var run: String
    /// Messages handled.
    var count: Int
    /// Messages the run was to handle.
    var expected: Int
    /// The earliest send time among the messages handled.
    var firstSent: Int
    /// When the last one was handled.
    var lastHandled: Int
    /// Latencies (handled − sent), nanoseconds.
    var p50: Int
    var p99: Int
    var max: Int

    /// Whether every expected message arrived (not cut short by the time limit).
    var isComplete: Bool { count >= expected }

    /// Messages handled per second, from the first send to the last handling.
    var rate: Double {
        guard count > 0, lastHandled > firstSent else { return 0 }
        return Double(count) / (Double(lastHandled - firstSent) / 1e9)
    }
}

/// The runs of this process's sinks, by name: their counts and latencies while they run,
/// and an event for whoever waits for one to finish.
final class DurableRunRegistry: Sendable {
    static let shared = DurableRunRegistry()

    fileprivate struct Run {
        var expect = 0
        var stopAt = 0
        var count = 0
        var firstSent = Int.max
        var lastHandled = 0
        var latencies = LatencyHistogram()
        var result: DurableRunResult?
        let finished = OneShotEvent()

        /// Counts a message; returns the result and the event to signal when it finished the run.
        mutating func record(
            name: String, expect: Int, stopAt: Int, sentAt: Int, handledAt: Int
        ) -> (DurableRunResult?, OneShotEvent?) {
            guard result == nil else { return (nil, nil) }
            self.expect = expect
            self.stopAt = stopAt
            count += 1
            firstSent = min(firstSent, sentAt)
            lastHandled = max(lastHandled, handledAt)
            latencies.record(UInt64(max(0, handledAt - sentAt)))
            guard count >= expect || (stopAt > 0 && handledAt >= stopAt) else { return (nil, nil) }
            let finished = DurableRunRegistry.result(of: self, name: name)
            result = finished
            return (finished, self.finished)
        }
    }

    private let runs = Mutex<[String: Run]>([:])

    /// Records a message of `run`; returns the run's result when this message finished it.
    func record(run name: String, expect: Int, stopAt: Int, sentAt: Int, handledAt: Int) -> DurableRunResult? {
        let (result, event) = runs.withLock { runs -> (DurableRunResult?, OneShotEvent?) in
            // In place: a copy of the run would copy its histogram for every message.
            runs[name, default: Run()].record(name: name, expect: expect, stopAt: stopAt, sentAt: sentAt, handledAt: handledAt)
        }
        event?.signal()
        return result
    }

    /// The result of `run` once it finished, or what it measured so far at `deadline`
    /// (``systemMonotonicNanoseconds()``); `nil` if nothing of it arrived. Forgets the run.
    func result(of name: String, waitingUntil deadline: Int) async -> DurableRunResult? {
        let event = runs.withLock { runs in
            if runs[name] == nil { runs[name] = Run() }
            return runs[name]!.finished
        }
        let remaining = deadline - systemMonotonicNanoseconds()
        if remaining > 0 {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await event.wait() }
                group.addTask { try? await Task.sleep(for: .nanoseconds(remaining)) }
                await group.next()
                group.cancelAll()
            }
        }
        return runs.withLock { runs in
            guard let run = runs.removeValue(forKey: name), run.count > 0 else { return nil }
            return run.result ?? Self.result(of: run, name: name)
        }
    }

    fileprivate static func result(of run: Run, name: String) -> DurableRunResult {
        DurableRunResult(
            run: name, count: run.count, expected: run.expect, firstSent: run.firstSent, lastHandled: run.lastHandled,
            p50: Int(run.latencies.quantile(0.5)), p99: Int(run.latencies.quantile(0.99)), max: Int(run.latencies.max))
    }
}
