public import ComponentKit
import Foundation

/// Collects messages into batches by count or time window: `{"items": [...]}`
/// goes out when `size` messages arrived or `window` milliseconds passed
/// since the first one of the batch, whichever comes first.
public actor Batch: RunningComponent {
    /// The batch node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Messages per batch.
        @SchemaField(minimum: 1, maximum: 100_000)
        public var size: Int = 10
        /// Longest time, in milliseconds, the first message of a batch waits; 0 waits for `size`.
        @SchemaField(minimum: 0)
        public var window: Int = 1000
    }

    /// What a batch carries.
    @Schema
    public struct Items: Codable, Sendable, Hashable {
        /// The payloads, in arrival order.
        public var items: [JSONValue]
    }

    public static let info = ComponentInfo(
        name: "batch", description: "Collects messages into batches by count or time window.", tags: ["sequence"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
        .output("out", label: "Batch", message: Items.self),
    ]

    private var items: [JSONValue] = []
    private var batchNumber = 0
    private var windowWaiter: CheckedContinuation<Void, Never>?

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        items.append(message.payload)
        if items.count == 1 {
            windowWaiter?.resume()
            windowWaiter = nil
        }
        if items.count >= settings.size { try await flush(output) }
    }

    /// Flushes batches whose window expired; on stop, flushes what is left.
    public func run(context: NodeContext, output: any Output) async throws {
        while !Task.isCancelled {
            await waitForFirstItem()
            if Task.isCancelled { break }
            let settings: Settings = try context.settings()
            let batch = batchNumber
            guard settings.window > 0 else {
                await waitForNextBatch(after: batch)
                continue
            }
            do {
                try await Task.sleep(for: .milliseconds(settings.window))
            } catch {
                break
            }
            if batchNumber == batch, !items.isEmpty { try await flush(output) }
        }
        if !items.isEmpty { try? await flush(output) }
    }

    private func flush(_ output: any Output) async throws {
        let batch = items
        items = []
        batchNumber += 1
        try await output.send("out", encoding: Items(items: batch))
    }

    private func waitForFirstItem() async {
        guard items.isEmpty else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume() } else { windowWaiter = continuation }
            }
        } onCancel: {
            Task { await self.wakeWindowWaiter() }
        }
    }

    private func waitForNextBatch(after batch: Int) async {
        while batchNumber == batch, !Task.isCancelled {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    if Task.isCancelled { continuation.resume() } else { windowWaiter = continuation }
                }
            } onCancel: {
                Task { await self.wakeWindowWaiter() }
            }
        }
    }

    private func wakeWindowWaiter() {
        windowWaiter?.resume()
        windowWaiter = nil
    }
}
