import AsyncPrimitives
import Backoff
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization

/// One long-lived `Deliver` stream to one replica address, reopened after the
/// delays of one ``Backoff`` when it breaks: the stream code around a
/// ``ReplicaConnectionStorage`` (which holds the state and the waiting senders).
///
/// Messages are encoded by the sending tasks and appended to the outbox's
/// last frame; the stream's writer takes whole frames, so under load frames
/// fill up while the previous one is written (group commit), and at low load
/// a message goes out alone after one yield (see
/// ``ReplicaConnectionStorage/nextFrame(epoch:)``). At most `maximumInFlight`
/// messages are queued or unacknowledged; further senders wait in line
/// (one entry per suspended sender), so memory stays bounded.
///
/// **One reconnect backoff.** Each stream attempt gets a gRPC client (and so an
/// HTTP/2 connection) of its own, shut down when the stream ends. gRPC's
/// transport backs off only between its own connection attempts, and a client
/// here never makes a second one: a failed connection fails the stream
/// (`waitForReady` is off), which ends the client. The delay before the next
/// attempt is this connection's ``BackoffSchedule`` alone, also when the
/// connection was fine and only the stream failed (e.g. the host refused it).
final class ReplicaConnection: Sendable {
    let address: String
    private let storage: ReplicaConnectionStorage
    private let security: HTTP2ClientTransport.Posix.TransportSecurity
    private let interceptors: [any ClientInterceptor]
    private let backoff: Backoff
    private let stopped = OneShotEvent()
    private let streamAttempts = Atomic<Int>(0)
    private let logger: Logger

    /// A connection to `address`, not yet running (see ``run()``); throws if the
    /// address is not `host:port` or the TLS configuration is unusable.
    init(
        address: String, limits: ReplicaLimits, backoff: Backoff, tls: MutualTLSConfiguration?, token: String?, logger: Logger
    ) throws {
        self.address = address
        self.security = tls?.clientSecurity ?? .plaintext
        self.interceptors = clientInterceptors(sending: token)
        self.backoff = backoff
        self.storage = ReplicaConnectionStorage(limits: limits)
        self.logger = logger
        // Fails now, not at the first attempt, if the transport cannot be made.
        _ = try makeTransport()
    }

    var phase: ReplicaPhase { storage.phase }

    /// Whether a stream is open (`true`), opening (`false`) or neither (`nil`), without locking.
    var isReady: Bool? { storage.isReady }

    /// Messages queued or awaiting an ack (for tests and metrics).
    var inFlight: Int { storage.inFlight }

    /// Streams opened so far, the first included (for tests and metrics).
    var attempts: Int { streamAttempts.load(ordering: .relaxed) }

    /// Stops accepting messages, lets the stream drain and ends ``run()``.
    func stop(reason: String) {
        storage.stop(reason: reason)
        stopped.signal()
    }

    /// Queues an encoded message body and returns the remote outcome.
    func submit(kind: DeliveryKind, body: ArraySlice<UInt8>, deadline: Date?) async throws -> DeliveryOutcome {
        try await storage.submit(kind: kind, body: body, deadline: deadline)
    }

    /// Queues the encoded bodies of a batch of one-way messages, in order, under
    /// one lock acquisition, and waits once until every one was acked or failed.
    /// Returns the members that were not accepted, by ascending offset. Members
    /// beyond the in-flight window wait in line like lone senders, so the window
    /// holds for batches too.
    func submitBatch(bodies: EncodedBodies, deadlines: [Date?]) async -> [BatchMemberFailure] {
        precondition(bodies.count == deadlines.count)
        return await storage.submitBatch(bodies: bodies, deadlines: deadlines)
    }

    // MARK: Running

    /// Keeps a stream open (reconnecting with backoff) and expires deadlines, until ``stop(reason:)``.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.expireDeadlines() }
            await self.maintainStream(in: &group)
            group.cancelAll()
        }
        storage.streamFailed(reason: "replica connection to \(address) closed")
    }

    /// Opens streams one after the other, waiting between two as the backoff says.
    /// Each attempt's client runs its connections in `group` and is shut down when
    /// its stream ends (without waiting for it here: a connection attempt still
    /// under way must not hold up the next stream).
    private func maintainStream(in group: inout DiscardingTaskGroup) async {
        var schedule = BackoffSchedule(backoff)
        while !stopped.hasHappened, !Task.isCancelled {
            guard let epoch = storage.connect() else { break }
            streamAttempts.add(1, ordering: .relaxed)
            let client: GRPCClient<HTTP2ClientTransport.Posix>
            let wasReady: Bool
            let reason: String
            do {
                client = GRPCClient(transport: try makeTransport(), interceptors: interceptors)
                group.addTask {
                    do { try await client.runConnections() } catch {
                        self.logger.debug("gRPC client for \(self.address) ended: \(error)")
                    }
                }
                (wasReady, reason) = await runStream(on: client, epoch: epoch)
                client.beginGracefulShutdown()
            } catch {
                (wasReady, reason) = (false, "\(address): \(error)")
            }
            storage.streamFailed(reason: reason)
            if stopped.hasHappened || Task.isCancelled { break }
            logger.debug("Deliver stream to \(address) ended: \(reason); reconnecting")
            if wasReady { schedule.reset() }
            let delay = schedule.failed(at: .now)
            await withTaskGroup(of: Void.self) { sleeper in
                sleeper.addTask { try? await Task.sleep(for: delay) }
                sleeper.addTask { await self.stopped.wait() }
                await sleeper.next()
                sleeper.cancelAll()
            }
        }
    }

    /// A transport for one stream attempt. gRPC's own connection backoff is set to
    /// the same delays, though a client here never reaches its second connection attempt.
    private func makeTransport() throws -> HTTP2ClientTransport.Posix {
        guard let target = resolvableTarget(address) else {
            throw SubmitFailure.unavailable("invalid replica address \"\(address)\"")
        }
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.backoff.initial = backoff.initial
        config.backoff.max = backoff.maximum
        config.backoff.multiplier = backoff.multiplier
        config.backoff.jitter = backoff.jitter
        return try HTTP2ClientTransport.Posix(target: target, transportSecurity: security, config: config)
    }

    /// Runs one `Deliver` stream: writes the outbox's frames, settles the acks.
    private func runStream(
        on client: GRPCClient<HTTP2ClientTransport.Posix>, epoch: UInt64
    ) async -> (wasReady: Bool, reason: String) {
        let storage = self.storage
        let ready = Atomic<Bool>(false)
        var options = CallOptions.defaults
        options.waitForReady = false
        do {
            try await client.bidirectionalStreaming(
                request: StreamingClientRequest(of: EncodedBatch.self) { writer in
                    while let frame = await storage.nextFrame(epoch: epoch) {
                        try await writer.write(frame)
                    }
                },
                descriptor: ModuleHostMethods.deliver,
                serializer: EncodedBatchSerializer(),
                deserializer: AckBatchDeserializer(),
                options: options
            ) { response in
                defer { storage.responseEnded(epoch: epoch) }
                if case .failure(let error) = response.accepted { throw error }
                ready.store(true, ordering: .relaxed)
                storage.streamOpened(epoch: epoch)
                for try await acks in response.messages { storage.received(acks, epoch: epoch) }
            }
            return (ready.load(ordering: .relaxed), "the stream to \(address) ended")
        } catch let error as RPCError {
            return (ready.load(ordering: .relaxed), "\(address): \(error.code): \(error.message)")
        } catch {
            return (ready.load(ordering: .relaxed), "\(address): \(error)")
        }
    }

    /// Fails messages whose deadline passed. Sleeps until the earliest
    /// deadline of a message in flight, woken early only when a message with
    /// an earlier one arrives; with no deadline in flight it does not wake at all.
    private func expireDeadlines() async {
        let earlierDeadlines = storage.deadlineChanges.subscribe()
        defer { earlierDeadlines.cancel() }
        while !Task.isCancelled {
            guard let earliest = storage.expire(now: Date()) else {
                await earlierDeadlines.next()
                continue
            }
            let wait = Duration.microseconds(Int64(max(0.000_5, earliest.timeIntervalSinceNow) * 1_000_000))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: wait) }
                group.addTask { await earlierDeadlines.next() }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
