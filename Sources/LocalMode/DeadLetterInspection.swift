import CRDModels
import Foundation
import GRPCTransport
import KubernetesClient
public import MessageStoreAPI
public import ModuleHostAPI

/// What `tinyflow dlq` does: resolves which dead letters the command names (a flow's nodes
/// through the API server), and asks a module host of the namespace, which holds the message
/// store and its credentials (the CLI holds none). Durable messages of a namespace live in the
/// store every host of the installation shares, so any host answers for all of them.
public enum DeadLetterInspection {
    /// Why a dead-letter command cannot be carried out as given.
    public enum Failure: Error, CustomStringConvertible, Sendable, Hashable {
        /// The selection does not fit the command; the text says which options to give.
        case invalidSelection(String)
        /// Neither a TinyFlow by that name nor TinyNodes of that flow exist in the namespace.
        case noSuchFlow(String, namespace: String)
        /// No dead letter with that id in the namespace.
        case noSuchDeadLetter(Int64, namespace: String)
        /// No TinyModule with an address in the namespace.
        case noModuleHost(namespace: String)

        /// A sentence naming what is wrong.
        public var description: String {
            switch self {
            case .invalidSelection(let reason): reason
            case .noSuchFlow(let flow, let namespace): "no TinyFlow \"\(flow)\" (and no TinyNodes of it) in namespace \(namespace)"
            case .noSuchDeadLetter(let id, let namespace): "no dead letter \(id) in namespace \(namespace)"
            case .noModuleHost(let namespace): "no TinyModule with an address in namespace \(namespace): no module host to ask"
            }
        }
    }

    /// Which dead letters of a namespace a command names: those of a flow's nodes, of one
    /// node, given ids (with a flow or node: those of them that are), or — only when said
    /// explicitly — all of them.
    public struct Selection: Sendable, Hashable {
        /// The TinyFlow whose nodes' dead letters are meant.
        public var flow: String?
        /// The TinyNode whose dead letters are meant.
        public var node: String?
        /// Only these dead letters.
        public var ids: [Int64]
        /// Every dead letter of the namespace (`--all`).
        public var all: Bool

        /// A selection.
        public init(flow: String? = nil, node: String? = nil, ids: [Int64] = [], all: Bool = false) {
            self.flow = flow
            self.node = node
            self.ids = ids
            self.all = all
        }

        /// Whether the selection narrows the namespace's dead letters at all.
        public var isNarrowed: Bool { flow != nil || node != nil || !ids.isEmpty }

        /// Throws ``Failure/invalidSelection(_:)`` when the selection does not fit `operation`:
        /// `--flow` and `--node` exclude each other, `--all` excludes both and `--id`, and
        /// `replay` and `purge` act on nothing unnamed — they need one of them or `--all`.
        public func validate(for operation: DeadLetterRequest.Operation) throws(Failure) {
            if flow != nil, node != nil {
                throw .invalidSelection("--flow and --node both select nodes: give one of them")
            }
            if all, isNarrowed {
                throw .invalidSelection("--all selects every dead letter of the namespace: drop --flow, --node and --id, or --all")
            }
            switch operation {
            case .replay, .purge:
                if !all, !isNarrowed {
                    throw .invalidSelection(
                        "\(operation.rawValue) needs a selection: --flow F, --node N or --id ID, or --all for every dead letter of the namespace")
                }
            case .list:
                break
            case .deleteQueues:
                throw .invalidSelection("deleting a node's queues is the operator's job: delete the TinyNode")
            }
        }
    }

    /// The request `selection` makes for `operation` in `namespace`, `--flow` resolved to the
    /// flow's nodes through the API server (nodes labelled `tinyflow.dev/flow` or naming it in
    /// `spec.flow`).
    public static func request(
        _ operation: DeadLetterRequest.Operation, _ selection: Selection, namespace: String, limit: Int? = nil,
        client: KubernetesClient
    ) async throws -> DeadLetterRequest {
        try selection.validate(for: operation)
        var nodes: [String]?
        if let flow = selection.flow {
            nodes = try await self.nodes(ofFlow: flow, namespace: namespace, client: client)
        } else if let node = selection.node {
            nodes = [node]
        }
        return DeadLetterRequest(
            operation, namespace: namespace, nodes: nodes, ids: selection.ids.isEmpty ? nil : selection.ids, limit: limit)
    }

    /// The names of `flow`'s nodes, sorted; throws ``Failure/noSuchFlow(_:namespace:)`` when
    /// neither the flow nor any node of it exists.
    public static func nodes(ofFlow flow: String, namespace: String, client: KubernetesClient) async throws -> [String] {
        let nodes = try await client.api(TinyNode.self, namespace: namespace).listAll().items
        let names = nodes.filter { $0.flowName == flow }.compactMap(\.metadata.name).sorted()
        if names.isEmpty, try await client.api(TinyFlow.self, namespace: namespace).getOptional(flow) == nil {
            throw Failure.noSuchFlow(flow, namespace: namespace)
        }
        return names
    }

    /// Carries out `request` on a module host of its namespace (the first TinyModule with an
    /// address, by name). `token` is what the hosts require (local mode), if anything.
    public static func perform(_ request: DeadLetterRequest, client: KubernetesClient, token: String?) async throws -> DeadLetterResponse {
        let candidates = try await ModuleHostAddresses.candidates(in: request.namespace, client: client)
        guard let address = candidates.first else { throw Failure.noModuleHost(namespace: request.namespace) }
        return try await ModuleHostClient.withClient(address: address, token: token, callTimeout: .seconds(30)) { host in
            try await host.deadLetters(request)
        }
    }

    /// The dead letter `id` of `namespace`, or ``Failure/noSuchDeadLetter(_:namespace:)``.
    public static func deadLetter(_ id: Int64, namespace: String, client: KubernetesClient, token: String?) async throws -> DeadLetter {
        let request = DeadLetterRequest(.list, namespace: namespace, ids: [id], limit: 1)
        guard let deadLetter = try await perform(request, client: client, token: token).deadLetters?.first else {
            throw Failure.noSuchDeadLetter(id, namespace: namespace)
        }
        return deadLetter
    }

    /// A table of `deadLetters` (`tinyflow dlq list`): id, target node and port, edge,
    /// attempts, reason, when dead-lettered (UTC) and the last error on one line, cut to
    /// `errorWidth` characters.
    public static func table(_ deadLetters: [DeadLetter], errorWidth: Int = 60) -> String {
        var rows = [["ID", "NODE:PORT", "EDGE", "ATTEMPTS", "REASON", "DEAD-LETTERED AT", "ERROR"]]
        for deadLetter in deadLetters {
            rows.append([
                String(deadLetter.id), "\(deadLetter.queue.node):\(deadLetter.queue.port)", deadLetter.edge.description,
                String(deadLetter.attempts), deadLetter.reason.rawValue,
                deadLetter.deadLetteredAt.formatted(.iso8601), oneLine(deadLetter.lastError, width: errorWidth),
            ])
        }
        return LocalInspection.table(rows)
    }

    /// `deadLetter` as indented JSON with sorted keys and ISO 8601 times (`tinyflow dlq show`),
    /// the message included.
    public static func json(_ deadLetter: DeadLetter) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(deadLetter), as: UTF8.self)
    }

    /// `text` with its line breaks and tabs as spaces, cut to `width` characters (the last a `…`).
    static func oneLine(_ text: String, width: Int) -> String {
        let flat = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        guard flat.count > width, width > 0 else { return flat }
        return String(flat.prefix(width - 1)) + "…"
    }
}
