import AsyncPrimitives
import Backoff
import BoundedChannels
import ComponentKit
import Foundation
import Logging
import ModuleHostAPI

/// The tasks of a node: the start (settings first), the consumers of its
/// input ports (delivery, retries, failure reports, restarts after repeated
/// failures) and, for running components, the supervised `run` loop.
///
/// Several functions here are `@inline(never)` on purpose: a task keeps the
/// memory of its deepest chain of frames for as long as it lives, so what an
/// idle node's task keeps while it waits must hold no delivery and no
/// handler frame (an idle node costs about 3.1 KiB; docs/runtime.md).
extension ModuleRuntime {
    // MARK: Starting

    /// Delivers a new node's settings, then hands its long-lived tasks to ``run()``.
    ///
    /// This runs in a short-lived task of its own: a task keeps the memory of
    /// its deepest chain of calls for as long as it lives (the task allocator
    /// keeps its slabs), so the settings handler's frames must not be part of
    /// the task an idle node keeps.
    func startTasks(of node: NodeInstance) async {
        // An instance of the same name that is still stopping (the node was replaced) ends
        // first: never two instances of one node at once.
        await stopsOver(before: node)
        node.predecessorStopped()
        if let settings = node.context.configuration(of: PortDefinition.settingsName) {
            await deliverSettings(settings, to: node)
        } else {
            node.supervisor.settingsDelivered()
        }
        // A plain one-input node's task only ever runs the consumer, whose
        // chain of frames fits the task allocator's first slab; anything else
        // goes through `lifecycle(of:)`.
        await startDurableConsumers(of: node)
        let job: Job
        if node.inputs.count == 1, let (port, channel) = node.inputs.first,
            !(node.componentType is any RunningComponent.Type)
        {
            job = .consumer(node, port: port, channel: channel)
        } else {
            job = .work { await node.tasks.run { await self.lifecycle(of: node) } }
        }
        do {
            try await jobs.send(job)
        } catch {
            nodeNotStarted(node)
        }
    }

    /// The host stopped taking tasks before the node's started: the node is stopped.
    func nodeNotStarted(_ node: NodeInstance) {
        node.setLastError("the module host is shutting down")
        node.supervisor.drained()
    }

    /// A node's tasks: one consumer per input port and, for running
    /// components, the run loop. The first of these runs in the lifecycle task
    /// itself, so an idle node with one input port costs a single task.
    ///
    /// The settings were delivered before (``startTasks(of:)``), and a plain
    /// one-input node runs only its consumer instead (``Job/consumer(_:port:channel:)``).
    func lifecycle(of node: NodeInstance) async {
        var work: [@Sendable () async -> Void] = node.inputs.map { port, channel in
            { await self.consume(port: port, channel: channel, node: node) }
        }
        if node.componentType is any RunningComponent.Type {
            work.append { await self.runLoop(of: node) }
        }
        if work.count == 1, let only = work.first {
            await only()
        } else if let first = work.first {
            await withDiscardingTaskGroup { group in
                for extra in work.dropFirst() { group.addTask { await extra() } }
                await first()
            }
        }
        node.supervisor.drained()
    }

    /// Delivers settings to the node's component; the supervisor learns whether it took them.
    @inline(never)
    func deliverSettings(_ settings: JSONValue, to node: NodeInstance) async {
        let message = Message(to: PortAddress(node: node.name, port: PortDefinition.settingsName), payload: settings)
        do {
            try await node.component.handle(
                port: PortDefinition.settingsName, message: message, context: node.context, output: output(of: node))
            node.supervisor.settingsDelivered()
        } catch {
            logger.error("node \(node.name) rejected its settings: \(error)")
            node.setLastError("settings rejected: \(error)")
            node.supervisor.settingsRejected()
        }
    }

    // MARK: Running

    /// Runs the component's `run` until the node stops, restarting it when
    /// the node's settings change (``NodeSupervisor/superviseRun(_:)``);
    /// sources run only while this replica leads.
    @inline(never)
    func runLoop(of node: NodeInstance) async {
        let isSource = node.componentType.isSource
        await node.supervisor.superviseRun {
            // A paused flow's node does not run until a sync resumes it (a restart request).
            if node.isPaused {
                try? await Task.sleep(for: .seconds(365 * 86_400))
                return
            }
            if isSource {
                await self.election.whileLeading { await self.runSource(node) }
            } else {
                await self.runSource(node)
            }
        }
    }

    /// Runs the component's `run` until it returns or is cancelled; a `run`
    /// that fails is run again after a backoff, which starts again from the
    /// first delay after a healthy run (`healthyRunReset`). `run` is called at
    /// least once, even in a task cancelled already (a node stopped before its
    /// run loop began): it returns at once, handing on what it must on a stop.
    func runSource(_ node: NodeInstance) async {
        var schedule = BackoffSchedule(restartBackoff)
        repeat {
            guard let component = node.component as? any RunningComponent else { return }
            // Running (again): an earlier run's failure no longer explains the node's state (a
            // new one will, if this run fails too).
            node.clearLastError()
            schedule.started(at: .now)
            do {
                try await component.run(context: node.context, output: output(of: node))
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                node.setLastError("\(error)")
                guard case .backOff = node.supervisor.runFailed() else { return }
                let delay = schedule.failed(at: .now)
                logger.error("source node \(node.name) failed: \(error); restarting")
                let cutShort = (try? await Task.sleep(for: delay)) == nil
                // Ended either way: a restart or stop request that cut it short runs or stops the node.
                node.supervisor.backoffElapsed()
                if cutShort { return }
            }
        } while !Task.isCancelled
    }

    /// The delays between restarts of a node (its `run`, or a fresh instance after repeated handler failures).
    var restartBackoff: Backoff {
        Backoff(
            initial: configuration.initialBackoff, maximum: configuration.maxBackoff,
            resetAfter: configuration.healthyRunReset)
    }

    // MARK: Consuming

    /// Takes the port's deliveries in batches and handles them, until the
    /// channel is finished and drained (a stop) or the task is cancelled (a stop
    /// whose timeout passed: what the batch still held is set aside for it to count).
    func consume(port: String, channel: BoundedChannel<Delivery>, node: NodeInstance) async {
        var batch: [Delivery] = []
        while true {
            // Keep the buffer while full batches arrive; an idle node holds none.
            batch.removeAll(keepingCapacity: batch.count == configuration.batchSize)
            do {
                guard try await channel.next(into: &batch, upTo: configuration.batchSize) else { return }
            } catch {
                return
            }
            await process(batch, port: port, node: node)
        }
    }

    /// Handles a batch in order. A function of its own, so that the consumer's
    /// frame, which an idle node keeps while it waits, holds no delivery.
    ///
    /// A plain delivery (no deadline, trace, reply or retry policy: nothing for
    /// ``DeliveryContext`` to carry) is handled right here: the handler is called
    /// without pushing a task-local, and the output handed to it is made once per
    /// batch. Any other goes through ``process(_:port:node:)``.
    @inline(never)
    func process(_ batch: [Delivery], port: String, node: NodeInstance) async {
        // A consumer task runs outside any delivery; should it not, every delivery sets its own context.
        let outsideDelivery = DeliveryContext.current == nil
        for index in batch.indices {
            // Cancelled: the node's stop timeout passed. What is left goes to the stop, which
            // counts it as dropped.
            if Task.isCancelled {
                node.setAside(batch[index...], port: port)
                return
            }
            let delivery = batch[index]
            guard outsideDelivery, delivery.isPlain else {
                await process(delivery, port: port, node: node)
                continue
            }
            // Made per delivery: it carries the message's hop count (three words, no allocation).
            let output: any Output = output(of: node, handling: delivery.message)
            do {
                try await node.component.handle(port: port, message: delivery.message, context: node.context, output: output)
                node.countDelivered(now: WallClock.coarseNanoseconds())
            } catch {
                await handlerFailed(delivery, port: port, node: node, error: error)
            }
        }
    }

    /// Handles one delivery: expired ones are reported, not handled; a failed
    /// handler is retried as the edge's retry policy says (``RetryDecision``),
    /// then the failure is counted and reported. A node being stopped does not
    /// retry: a stop request ends the wait, and the failure stands.
    @inline(never)
    func process(_ delivery: Delivery, port: String, node: NodeInstance) async {
        let message = delivery.message
        if let deadline = message.deadline, deadline <= Date() {
            node.countExpired()
            let error = DeliveryError.expired(message.id)
            delivery.reply?.fail(error)
            await reportFailure(message, port: port, node: node, error: error)
            return
        }
        // Only a delivery that may be retried notes when its first attempt began.
        let startedAt = delivery.retryPolicy == nil ? nil : ContinuousClock.now
        var attempt = 1
        while true {
            do {
                let context = DeliveryContext(reply: delivery.reply, deadline: message.deadline, traceparent: message.traceparent)
                try await DeliveryContext.$current.withValue(context) {
                    try await node.component.handle(
                        port: port, message: message, context: node.context, output: output(of: node, handling: message))
                }
                node.countDelivered(now: WallClock.coarseNanoseconds())
                return
            } catch {
                if let policy = delivery.retryPolicy, let startedAt, !HopLimit.isRefusal(error), !node.supervisor.isStopping,
                    case .retry(let wait) = RetryDecision(policy: policy).afterFailure(
                        error, attempt: attempt, elapsed: .now - startedAt, now: Date(), deadline: message.deadline)
                {
                    attempt += 1
                    // Cut short by a stop request or cancellation: the failure stands.
                    if await node.supervisor.wait(wait), !Task.isCancelled { continue }
                }
                await handlerFailed(delivery, port: port, node: node, error: error)
                return
            }
        }
    }

    /// A handler failed for good (after any retries): the failure is counted,
    /// answers a pending request, goes to the error port and may restart the node
    /// (not a send refused at the hop limit: the component did nothing wrong).
    @inline(never)
    func handlerFailed(_ delivery: Delivery, port: String, node: NodeInstance, error: any Error) async {
        node.countErrored()
        delivery.reply?.fail(error)
        await reportFailure(delivery.message, port: port, node: node, error: error)
        if !HopLimit.isRefusal(error) { await noteFailure(of: node, error: error) }
    }

    /// Counts a handler failure; after `failureThreshold` in a row the node is
    /// restarted (a fresh component instance, settings delivered again) after
    /// an exponential backoff, during which its queued messages wait. The
    /// backoff starts from its first delay again once the node ran healthy for
    /// `healthyRunReset` since its last restart; a stop request cuts it short.
    /// A draining node is not restarted.
    @inline(never)
    func noteFailure(of node: NodeInstance, error: any Error) async {
        let thresholdReached = node.noteFailure("\(error)", threshold: configuration.failureThreshold)
        guard thresholdReached, let restart = node.supervisor.failureThresholdReached() else { return }
        logger.warning("node \(node.name) failed \(configuration.failureThreshold) times in a row; restarting (restart \(restart))")
        _ = await node.supervisor.wait(node.handlerRestartDelay())
        node.recreateComponent()
        if let settings = node.context.configuration(of: PortDefinition.settingsName) {
            await deliverSettings(settings, to: node)
        }
        node.handlerRestarted()
        node.supervisor.backoffElapsed()
    }

    /// Sends an ``ErrorMessage`` about a failed or expired message from the
    /// node's error port, or logs it when the port is not wired.
    ///
    /// The report is a hop further than the failed message, so that a failing
    /// node whose error port leads back into a cycle stops at the hop limit
    /// too. The report of a message at the limit (a refused send, typically) is
    /// sent all the same; one further past it is not: its failure is logged
    /// instead, as are hop-limit refusals without an error port — at most once
    /// per node per ``hopLimitLogInterval``, so a cycle cannot storm the log.
    ///
    /// - Returns: whether the error port took the report.
    @inline(never) @discardableResult
    func reportFailure(_ message: Message, port: String, node: NodeInstance, error: any Error) async -> Bool {
        let report = ErrorMessage(
            error: "\(error)", errorType: String(describing: type(of: error)), node: node.name, port: port,
            message: (try? JSONValue(encoding: message)) ?? message.payload)
        let hops = HopLimit.hops(after: message.hops)
        let verdict = HopLimit.verdict(hops: hops, limit: node.outputRoutes.maxHops)
        let routes = node.routes(for: PortDefinition.errorName)
        guard !routes.isEmpty, verdict != .refuse, let payload = try? JSONValue(encoding: report) else {
            if HopLimit.isRefusal(error) || verdict == .refuse {
                if let unlogged = node.hopLimitRefusalToLog(interval: Self.hopLimitLogInterval) {
                    let more = unlogged > 1 ? " (and \(unlogged - 1) such failures since the last log)" : ""
                    logger.warning("node \(node.name) failed on port \(port): \(error)\(more)", metadata: ["message": "\(message.id)"])
                }
            } else {
                logger.warning("node \(node.name) failed on port \(port): \(error)", metadata: ["message": "\(message.id)"])
            }
            return false
        }
        do {
            try await DeliveryContext.$current.withValue(nil) {
                try await router.send(
                    Message(payload: payload), from: node, port: PortDefinition.errorName, hops: hops,
                    checkingHopLimit: verdict == .deliver)
            }
            return true
        } catch {
            logger.error("node \(node.name) could not report a failure to its error port: \(error)")
            return false
        }
    }

    /// The shortest time between two logs of a node's hop-limit failures.
    static let hopLimitLogInterval: Duration = .seconds(10)

    /// The ``Output`` handed to the node's component outside a handler (settings, `run`):
    /// what it sends starts a chain of hops.
    func output(of node: NodeInstance) -> NodeOutput { NodeOutput(node: node, router: router, hops: 0) }

    /// The ``Output`` handed to the node's component while it handles `message`:
    /// what it sends continues the message's chain, one hop further.
    @inline(__always)
    func output(of node: NodeInstance, handling message: Message) -> NodeOutput {
        NodeOutput(node: node, router: router, hops: HopLimit.hops(after: message.hops))
    }
}
