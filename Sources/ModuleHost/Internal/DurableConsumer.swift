import AsyncPrimitives
import Backoff
import CRDModels
import ComponentKit
import ConfigurationReferences
import ContextStoreAPI
import Foundation
import Logging
import MessageStoreAPI
import ModuleHostAPI

/// The consumers of durable input ports: one task per queue (a node's input port that durable
/// edges lead to), which pulls the queue's messages from the message store at the pace the
/// node handles them, by priority, then deadline, then arrival.
///
/// Each claimed batch is handled under one ``DurableHandling``: the handlers' context writes
/// and durable sends are committed in the same transaction as the messages'
/// acknowledgements (``Settlement``), so a host that dies mid-batch leaves no effect and the
/// batch is claimed again once its leases expire. Nothing runs while a queue is empty: the
/// consumer waits for the store's signal, or until the next retry or lease expiry it knows of.
extension ModuleRuntime {
    /// Pulls and handles `queue`'s messages for `node` until `stop` happens (or the task is
    /// cancelled); a batch being handled is finished and settled first.
    func consumeDurable(_ queue: DurableQueue, node: NodeInstance, store: any MessageStore, stop: OneShotEvent) async {
        var storeFailures = 0
        let storeBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        // While batches follow each other, the backlog in status is read at most twice a
        // second (on PostgreSQL it counts the queue); exactly whenever the queue runs dry.
        var backlogReadAt: ContinuousClock.Instant?
        while !stop.hasHappened, !Task.isCancelled {
            let seen = store.signals.generation(.work(queue))
            // A paused flow's node, or one whose settings were rejected, takes nothing: its
            // messages stay stored (none fails for a configuration to be fixed). Every sync and
            // a stop wake the consumer to look again.
            if node.isPaused || node.supervisor.snapshot.phase == .failed {
                await store.signals.wait(for: .work(queue), after: seen)
                continue
            }
            do {
                let claim = try await store.claim(
                    from: queue, limit: configuration.batchSize, leaseDuration: configuration.durableLease)
                for expired in claim.expired { await deadLettered(expired.message, port: queue.port, node: node, error: expired.lastError, expired: true) }
                if claim.messages.isEmpty {
                    recovered(&storeFailures, node: node)
                    node.recordBacklog(try await store.backlog(of: queue), port: queue.port)
                    let next = try await store.nextAvailableTime(of: queue)
                    await store.signals.wait(for: .work(queue), after: seen, until: next.map(Self.instant(of:)))
                    continue
                }
                node.countClaimed(claim.messages.count, again: claim.messages.count { $0.attempts > 1 })
                if let outage = await handleDurable(claim.messages, port: queue.port, node: node, store: store) { throw outage }
                recovered(&storeFailures, node: node)
                let now = ContinuousClock.now
                if backlogReadAt.map({ now - $0 >= .milliseconds(500) }) ?? true {
                    backlogReadAt = now
                    node.recordBacklog(try await store.backlog(of: queue), port: queue.port)
                }
            } catch {
                if stop.hasHappened || Task.isCancelled { return }
                storeFailures += 1
                node.setLastError("durable input \(queue.port): \(error)")
                logger.warning("node \(node.name): durable input \(queue.port) cannot reach its store: \(error)")
                // A stop signals the queue and cuts the wait short.
                let delay = storeBackoff.delay(attempt: storeFailures - 1)
                await store.signals.wait(for: .work(queue), after: store.signals.generation(.work(queue)), until: .now + delay)
            }
        }
    }

    /// The store answers again after `failures` failed tries: the outage no longer explains the node's state.
    private func recovered(_ failures: inout Int, node: NodeInstance) {
        guard failures > 0 else { return }
        failures = 0
        node.clearLastError()
    }

    /// Handles a claimed batch in order and settles it in one transaction, keeping the
    /// leases while the handlers run. A failed message is released for a later attempt or
    /// dead-lettered, as the retry policy of the edge it came by says (without one: one attempt).
    ///
    /// A handler that fails because the stores are unavailable (``isStoreOutage(_:)``) ends the
    /// batch: that message and the ones after it are released with their attempts uncounted,
    /// and the outage is returned for the consumer to back off.
    func handleDurable(_ messages: [LeasedMessage], port: String, node: NodeInstance, store: any MessageStore) async -> (any Error)? {
        await withDiscardingTaskGroup(returning: (any Error)?.self) { group in
            group.addTask { await self.keepLeases(messages.map(\.lease), store: store) }
            defer { group.cancelAll() }
            let handling = DurableHandling(contextStore: contextStore)
            var settlement = Settlement()
            var failed: [(message: LeasedMessage, error: any Error, deadLettered: Bool)] = []
            var outage: (any Error)?
            for (index, leased) in messages.enumerated() {
                let checkpoint = handling.checkpoint()
                do {
                    try await handleOnce(leased.message, port: port, node: node, handling: handling)
                    settlement.acknowledged.append(leased.lease)
                } catch where Self.isStoreOutage(error) {
                    handling.rollback(to: checkpoint)
                    outage = error
                    settlement.retried += messages[index...].map { uncountedRetry(of: $0, error: error) }
                    break
                } catch where Task.isCancelled {
                    // Stopped past the stop timeout: not the message's fault. It and the rest
                    // go back to the queue with their attempts uncounted (or, should the
                    // cancelled settlement fail, once their leases expire).
                    handling.rollback(to: checkpoint)
                    settlement.retried += messages[index...].map { uncountedRetry(of: $0, error: error) }
                    break
                } catch {
                    handling.rollback(to: checkpoint)
                    switch failureOutcome(of: leased, error: error, node: node) {
                    case .retry(let retry): settlement.retried.append(retry)
                    case .deadLetter(let rejection): settlement.deadLettered.append(rejection)
                    }
                    failed.append((leased, error, settlement.deadLettered.last?.lease == leased.lease))
                }
            }
            settlement.enqueued = handling.pendingMessages
            settlement.contextMutations = handling.context.mutations
            do {
                try await settle(settlement, maxBacklog: handling.maxBacklog, store: store)
            } catch ContextStoreError.conflict {
                // Another writer changed what a handler read: the failures stand as decided,
                // the handled messages are handled again one at a time.
                let retries = Settlement(retried: settlement.retried, deadLettered: settlement.deadLettered)
                await settleOrLog(retries, store: store, node: node)
                let acknowledged = Set(settlement.acknowledged)
                for leased in messages where acknowledged.contains(leased.lease) {
                    await handleAlone(leased, port: port, node: node, store: store)
                }
                await countFailures(failed, port: port, node: node)
                return outage
            } catch {
                logSettlementFailure(error, node: node, count: messages.count)
                return outage ?? (Self.isStoreOutage(error) ? error : nil)
            }
            let now = WallClock.coarseNanoseconds()
            for _ in settlement.acknowledged { node.countDelivered(now: now) }
            await countFailures(failed, port: port, node: node)
            return outage
        }
    }

    /// Whether `error` says the stores could not be reached: not the message's fault, so
    /// its attempt is not counted against the edge's retry policy.
    static func isStoreOutage(_ error: any Error) -> Bool {
        switch error {
        case ContextStoreError.unavailable, MessageStoreError.unavailable: true
        default: false
        }
    }

    /// `leased` released for another attempt at once, the failed one uncounted.
    private func uncountedRetry(of leased: LeasedMessage, error: any Error) -> Settlement.Retry {
        Settlement.Retry(lease: leased.lease, availableAt: Date(), error: redaction.redact("\(error)"), countsAsAttempt: false)
    }

    /// Handles one message under a transaction of its own and settles it, again from the
    /// start when another writer changed what the handler read (at most 10 times; then it
    /// is released for a later attempt).
    private func handleAlone(_ leased: LeasedMessage, port: String, node: NodeInstance, store: any MessageStore) async {
        for _ in 0..<10 {
            let handling = DurableHandling(contextStore: contextStore)
            var settlement = Settlement()
            var failure: (any Error)?
            do {
                try await handleOnce(leased.message, port: port, node: node, handling: handling)
                settlement = Settlement(
                    acknowledged: [leased.lease], enqueued: handling.pendingMessages,
                    contextMutations: handling.context.mutations)
            } catch where Self.isStoreOutage(error) {
                await settleOrLog(Settlement(retried: [uncountedRetry(of: leased, error: error)]), store: store, node: node)
                return
            } catch {
                failure = error
                switch failureOutcome(of: leased, error: error, node: node) {
                case .retry(let retry): settlement.retried = [retry]
                case .deadLetter(let rejection): settlement.deadLettered = [rejection]
                }
            }
            do {
                try await settle(settlement, maxBacklog: handling.maxBacklog, store: store)
            } catch ContextStoreError.conflict {
                continue
            } catch {
                logSettlementFailure(error, node: node, count: 1)
                return
            }
            if let failure {
                await countFailures([(leased, failure, !settlement.deadLettered.isEmpty)], port: port, node: node)
            } else {
                node.countDelivered(now: WallClock.coarseNanoseconds())
            }
            return
        }
        let retry = Settlement.Retry(lease: leased.lease, availableAt: Date(), error: "context kept changing under the handler")
        await settleOrLog(Settlement(retried: [retry]), store: store, node: node)
    }

    /// Runs the node's handler for a durable message, its context writes and durable sends
    /// going to `handling`.
    private func handleOnce(_ message: Message, port: String, node: NodeInstance, handling: DurableHandling) async throws {
        let context = DeliveryContext(reply: nil, deadline: message.deadline, traceparent: message.traceparent, durable: handling)
        try await ContextTransaction.$current.withValue(handling.context) {
            try await DeliveryContext.$current.withValue(context) {
                try await node.component.handle(
                    port: port, message: message, context: node.context, output: output(of: node, handling: message))
            }
        }
    }

    /// What becomes of a message whose handler failed.
    private enum FailureOutcome {
        case retry(Settlement.Retry)
        case deadLetter(Settlement.Rejection)
    }

    /// Another attempt after the wait its edge's retry policy gives, or a dead letter when
    /// the policy allows no more (or the edge has none: one attempt).
    private func failureOutcome(of leased: LeasedMessage, error: any Error, node: NodeInstance) -> FailureOutcome {
        let description = redaction.redact("\(error)")
        guard let policy = node.definition.durableRetryPolicies?[leased.edge.description] else {
            return .deadLetter(Settlement.Rejection(lease: leased.lease, reason: .attemptsExhausted, error: description))
        }
        let now = Date()
        let decision = RetryDecision(policy: policy)
        let elapsed = Duration.seconds(max(0, now.timeIntervalSince(leased.enqueuedAt)))
        switch decision.afterFailure(error, attempt: leased.attempts, elapsed: elapsed, now: now, deadline: leased.message.deadline) {
        case .retry(let wait):
            return .retry(Settlement.Retry(lease: leased.lease, availableAt: now.addingTimeInterval(wait.seconds), error: description))
        case .giveUp:
            let exhausted = leased.attempts >= policy.maxAttempts || leased.message.deadline.map { $0 <= now } == true
            return .deadLetter(Settlement.Rejection(
                lease: leased.lease, reason: exhausted ? .attemptsExhausted : .nonRetryable, error: description))
        }
    }

    /// Reports dead-lettered messages (counted, error port or the log), and notes every failure
    /// against the node's failure threshold: a node that keeps failing is restarted after a
    /// backoff, during which its consumer claims nothing (its messages wait stored).
    private func countFailures(_ failed: [(message: LeasedMessage, error: any Error, deadLettered: Bool)], port: String, node: NodeInstance) async {
        for failure in failed {
            if failure.deadLettered {
                await deadLettered(failure.message.message, port: port, node: node, error: "\(failure.error)", expired: false)
            }
            if !HopLimit.isRefusal(failure.error) { await noteFailure(of: node, error: failure.error) }
        }
    }

    /// A durable message will not be delivered: counted (as expired or errored, and as dead-lettered) and reported.
    private func deadLettered(_ message: Message, port: String, node: NodeInstance, error: String, expired: Bool) async {
        if expired { node.countExpired() } else { node.countErrored() }
        node.countDeadLettered()
        await reportFailure(message, port: port, node: node, error: DurableDeliveryError.deadLettered(messageID: message.id, reason: error))
    }

    /// Settles, waiting for room while a queue the handlers sent to is full (the leases are kept meanwhile).
    private func settle(_ settlement: Settlement, maxBacklog: Int = Edge.defaultMaxBacklog, store: any MessageStore) async throws {
        guard !settlement.isEmpty else { return }
        while true {
            let full = settlement.enqueued.first?.queue
            let seen = full.map { store.signals.generation(.space($0)) } ?? 0
            do {
                try await store.settle(settlement, maxBacklog: maxBacklog)
                return
            } catch MessageStoreError.backlogFull(let queue, _) {
                await store.signals.wait(for: .space(queue), after: queue == full ? seen : 0, until: .now + .seconds(1))
                try Task.checkCancellation()
            }
        }
    }

    private func settleOrLog(_ settlement: Settlement, store: any MessageStore, node: NodeInstance) async {
        do { try await settle(settlement, store: store) } catch { logSettlementFailure(error, node: node, count: settlement.leases.count) }
    }

    private func logSettlementFailure(_ error: any Error, node: NodeInstance, count: Int) {
        // Nothing was applied: the messages are handed out again once their leases expire.
        logger.warning("node \(node.name): \(count) durable message(s) not settled, they will be delivered again: \(error)")
    }

    /// Extends `leases` every third of the lease duration while the batch is handled.
    private func keepLeases(_ leases: [MessageStoreAPI.Lease], store: any MessageStore) async {
        var held = leases
        while !held.isEmpty {
            do {
                try await Task.sleep(for: configuration.durableLease / 3)
                held = try await store.extend(held, leaseDuration: configuration.durableLease)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("durable leases not extended: \(error)")
            }
        }
    }

    /// The continuous-clock instant of a wall-clock date (now if it passed).
    static func instant(of date: Date) -> ContinuousClock.Instant {
        .now + .seconds(max(0, date.timeIntervalSinceNow))
    }
}

/// Why a durable message was not delivered.
public enum DurableDeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// It was dead-lettered: past its deadline, out of attempts, or failing with an error
    /// that is never retried. `tinyflow dlq` shows and replays it.
    case deadLettered(messageID: String, reason: String)

    public var description: String {
        switch self {
        case .deadLettered(let id, let reason): "message \(id) was dead-lettered: \(reason)"
        }
    }
}
