import CRDModels
import Foundation
import Hummingbird
import KubernetesClient
import KubernetesRuntime
import Logging
import ServiceLifecycle

/// The event stream of one page looking at one flow: Kubernetes watches of the
/// namespace's TinyNodes and of the TinyFlow (with the user's credentials), and while
/// the page is open a tick every second that asks the operator's debug endpoint for
/// the flow's debug nodes' messages and lets idle rates fall to zero. Everything
/// ends when the page goes.
///
/// Events wait in a bounded buffer; a page too slow to take them loses its stream (it
/// reconnects and starts from a fresh listing) rather than events silently.
struct FlowEventStream: Sendable {
    let api: FlowsAPI
    let flow: String
    let logger: Logger
    /// Events a page may fall behind by before its stream is ended.
    static let bufferedBatches = 512
    /// A comment is sent after this many quiet ticks, so proxies keep the connection.
    static let keepAliveTicks = 15

    /// The response body: `text/event-stream`.
    func body() -> ResponseBody {
        ResponseBody { writer in
            let (batches, continuation) = AsyncStream.makeStream(of: [ConsoleEvent].self, bufferingPolicy: .bufferingOldest(Self.bufferedBatches))
            let session = Session(flow: flow, continuation: continuation)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await watchNodes(session) }
                if flow != FlowsAPI.unassignedFlow { group.addTask { await watchFlow(session) } }
                group.addTask { try await tick(session) }
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                // A server shutting down ends its streams (pages reconnect to the next one).
                try await withGracefulShutdownHandler {
                    for await batch in batches {
                        let text = batch.isEmpty ? ": keep-alive\n\n" : batch.map(\.serverSentText).joined()
                        try await writer.write(ByteBuffer(string: text))
                    }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
    }

    private func watchNodes(_ session: Session) async {
        let watcher = Watcher(api: api.client.api(TinyNode.self, namespace: api.namespace), logger: logger)
        for await result in watcher {
            let now = ContinuousClock.now
            switch result {
            case .success(.restarted(let nodes)): await session.update { $0.nodesListed(nodes, at: now) }
            case .success(.applied(let node)): await session.update { $0.nodeApplied(node, at: now) }
            case .success(.deleted(let node)): await session.update { $0.nodeDeleted(node) }
            case .failure(let failure): await session.problem(failure.error)
            }
        }
    }

    private func watchFlow(_ session: Session) async {
        var configuration = WatcherConfiguration(fieldSelector: "metadata.name=\(flow)")
        configuration.pageSize = 10
        let watcher = Watcher(api: api.client.api(TinyFlow.self, namespace: api.namespace), configuration: configuration, logger: logger)
        for await result in watcher {
            switch result {
            case .success(.restarted(let flows)): await session.update { $0.flowChanged(flows.first) }
            case .success(.applied(let flow)): await session.update { $0.flowChanged(flow) }
            case .success(.deleted): await session.update { $0.flowChanged(nil) }
            case .failure(let failure): await session.problem(failure.error)
            }
        }
    }

    private func tick(_ session: Session) async throws {
        var quiet = 0
        while true {
            try await Task.sleep(for: .seconds(1))
            var sent = await session.update { $0.tick(at: .now) }
            for node in await session.debugNodes {
                do {
                    let messages = try await api.messages(of: node).messages
                    sent = await session.update { $0.messages(messages, of: node) } || sent
                } catch {
                    await session.problem(error)
                }
            }
            quiet = sent ? 0 : quiet + 1
            if quiet >= Self.keepAliveTicks {
                quiet = 0
                await session.send([])
            }
        }
    }

    /// The state of one stream and where its events go.
    private actor Session {
        private var state: FlowEventState
        private let continuation: AsyncStream<[ConsoleEvent]>.Continuation
        private var reportedProblem: String?

        init(flow: String, continuation: AsyncStream<[ConsoleEvent]>.Continuation) {
            state = FlowEventState(flow: flow)
            self.continuation = continuation
        }

        var debugNodes: [String] { state.debugNodes }

        /// Applies `change` and sends what it produced; whether it produced anything.
        @discardableResult
        func update(_ change: (inout FlowEventState) -> [ConsoleEvent]) -> Bool {
            let events = change(&state)
            guard !events.isEmpty else { return false }
            reportedProblem = nil
            send(events)
            return true
        }

        /// Tells the page about a failure once, until something succeeds again.
        func problem(_ error: any Error) {
            let failure = ConsoleError.from(error)
            guard failure.message != reportedProblem else { return }
            reportedProblem = failure.message
            send([.problem(error: failure.message, reason: failure.reason)])
        }

        func send(_ events: [ConsoleEvent]) {
            if case .dropped = continuation.yield(events) {
                // The page fell too far behind: end its stream; it reconnects from a fresh listing.
                continuation.finish()
            }
        }
    }
}
