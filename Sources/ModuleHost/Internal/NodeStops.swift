import AsyncPrimitives
import BoundedChannels
import ComponentKit
import Logging
import MessageStoreAPI
import Synchronization

/// How nodes and durable consumers stop: asked at once, done within the stop timeout.
///
/// A stop has two halves. ``askToStop(_:)-(NodeInstance)`` happens in the sync that removes
/// the node: its channels refuse new messages (senders get ``DeliveryError/nodeStopping(_:)``
/// at once), its `run` is cancelled and any backoff or retry wait it is in ends. The rest
/// (``finishStops(consumers:nodes:)``) runs in the background: the node handles what its
/// channels hold for at most ``ModuleRuntime/Configuration/stopTimeout``; then its tasks are
/// cancelled, and what it did not handle is dropped — counted, requests among it answered,
/// reported to the node's error port while there is time.
extension ModuleRuntime {
    /// How a stop ended.
    enum StopOutcome: Sendable, Hashable {
        /// The tasks ended within the stop timeout.
        case inTime
        /// They were cancelled at the stop timeout, and then ended.
        case cancelled
        /// They ignored the cancellation for ``ModuleRuntime/cancellationGrace``: the stop is
        /// over without them.
        case abandoned
    }

    /// Asks `node` to stop: its channels refuse further messages, its run loop and any wait
    /// for a backoff or a retry end. It is among the stopping nodes until its stop is over.
    func askToStop(_ node: NodeInstance) {
        stoppingNodes.withLock { $0[node.name, default: []].append(node) }
        for channel in node.inputs.values { channel.finish() }
        node.supervisor.requestStop()
    }

    /// Asks durable consumers to stop after the batch each is handling; their messages stay stored.
    func askToStop(_ consumers: [(DurableQueue, DurableConsumers.Entry)]) {
        for (queue, entry) in consumers {
            entry.stop.signal()
            messageStore?.signals.wakeLocally(CollectionOfOne(.work(queue)))
        }
    }

    /// Waits for the stops of `consumers` and `nodes`, asked before, each bounded by the stop timeout.
    func finishStops(consumers: [(DurableQueue, DurableConsumers.Entry)], nodes: [NodeInstance]) async {
        await withDiscardingTaskGroup { group in
            for (queue, entry) in consumers where entry.started {
                group.addTask {
                    let outcome = await self.awaitStop(of: entry.tasks) { await entry.stopped.wait() }
                    if outcome != .inTime {
                        // A cancelled batch is not settled: its messages are delivered again once their leases expire.
                        self.logger.warning(
                            "node \(entry.node.name): the consumer of durable input \(queue.port) did not stop within \(self.configuration.stopTimeout) and was cancelled\(outcome == .abandoned ? "; it ignores the cancellation and is left behind" : "")")
                    }
                }
            }
            for node in nodes {
                group.addTask { await self.finishStop(of: node) }
            }
        }
    }

    /// Waits for `node`'s tasks to end (cancelling them at the stop timeout), drops what it
    /// did not handle, and ends its stop.
    private func finishStop(of node: NodeInstance) async {
        let outcome = await awaitStop(of: node.tasks) { await node.supervisor.waitUntilStopped() }
        switch outcome {
        case .inTime: break
        case .cancelled:
            logger.warning("node \(node.name) did not stop within its stop timeout of \(configuration.stopTimeout): its tasks were cancelled")
        case .abandoned:
            logger.warning(
                "node \(node.name) did not stop within its stop timeout of \(configuration.stopTimeout) and its tasks ignore cancellation: they are left behind")
        }
        let unhandled = await node.takeUnhandled()
        if !unhandled.isEmpty { await drop(unhandled, of: node) }
        stoppingNodes.withLock { stopping in
            stopping[node.name]?.removeAll { $0 === node }
            if stopping[node.name]?.isEmpty == true { stopping[node.name] = nil }
        }
        node.stopCompleted.signal()
    }

    /// Waits until `stopped` returns, for the stop timeout at most; then cancels `tasks` and
    /// waits ``cancellationGrace`` more.
    func awaitStop(of tasks: TaskCanceller, until stopped: @escaping @Sendable () async -> Void) async -> StopOutcome {
        if (try? await withTimeout(configuration.stopTimeout, stopped)) != nil { return .inTime }
        tasks.cancel()
        if (try? await withTimeout(Self.cancellationGrace, stopped)) != nil { return .cancelled }
        return .abandoned
    }

    /// Messages `node` will not handle: counted as dropped, requests among them answered
    /// with the reason, and each reported to the node's error port, if it is wired, for as
    /// long as ``cancellationGrace`` allows and the reports get through.
    private func drop(_ unhandled: [(port: String, delivery: Delivery)], of node: NodeInstance) async {
        node.countDropped(unhandled.count)
        let error = DeliveryError.dropped(node: node.name, stopTimeout: configuration.stopTimeout)
        for (_, delivery) in unhandled { delivery.reply?.fail(error) }
        logger.warning(
            "node \(node.name) stopped with \(unhandled.count) message(s) it did not handle within its stop timeout of \(configuration.stopTimeout): dropped")
        guard !node.routes(for: PortDefinition.errorName).isEmpty else { return }
        _ = try? await withTimeout(Self.cancellationGrace) {
            for (port, delivery) in unhandled {
                guard !Task.isCancelled, await self.reportFailure(delivery.message, port: port, node: node, error: error) else { return }
            }
        }
    }

    /// Runs `work` as a task of ``run()``'s group, or here when the host no longer takes tasks.
    func inBackground(_ work: @escaping @Sendable () async -> Void) async {
        do {
            try await jobs.send(.work(work))
        } catch {
            await work()
        }
    }

    /// Returns once the stops of the other instances of `node` (earlier ones, replaced) are over.
    func stopsOver(before node: NodeInstance) async {
        for other in stoppingNodes.withLock({ $0[node.name] ?? [] }) where other !== node { await other.stopCompleted.wait() }
    }
}
