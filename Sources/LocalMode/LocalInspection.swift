import BearerTokens
import CRDModels
import ComponentKit
import Foundation
import GRPCTransport
import KubernetesClient
import KubernetesModels

/// What `tinyflow status` and `tinyflow logs` read from a running `tinyflow up`.
public enum LocalInspection {
    /// Runs `body` with a client for the control plane of `tinyflow up --data dataDirectory`.
    public static func withClient<T: Sendable>(
        dataDirectory: URL, _ body: (KubernetesClient) async throws -> T
    ) async throws -> T {
        let path = LocalModeOptions.kubeconfigPath(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw LocalModeError.notRunning(dataDirectory: dataDirectory.path)
        }
        let configuration = try ClientConfiguration(kubeconfig: try KubeConfig.read(file: path))
        return try await KubernetesClient.withClient(configuration: configuration, body)
    }

    /// The token the module hosts of `tinyflow up --data dataDirectory` require, if it is running.
    public static func moduleToken(dataDirectory: URL) throws -> String {
        try BearerTokenFile.read(LocalModeOptions.moduleTokenPath(dataDirectory: dataDirectory))
    }

    /// A table of nodes (name, module, component, Ready, messages in/out) and one of modules.
    public static func status(client: KubernetesClient, namespace: String? = nil) async throws -> String {
        let nodes = try await client.api(TinyNode.self, namespace: namespace).listAll().items
        let modules = try await client.api(TinyModule.self, namespace: namespace).listAll().items
        var rows = [["NODE", "MODULE", "COMPONENT", "READY", "IN", "OUT"]]
        for node in nodes.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            let ready = node.status?.conditions.first { $0.type == "Ready" }?.status.rawValue ?? "Unknown"
            rows.append([
                node.metadata.name ?? "?", node.spec.module, node.spec.component, ready,
                "\(node.status?.metrics?.messagesIn ?? 0)", "\(node.status?.metrics?.messagesOut ?? 0)",
            ])
        }
        var moduleRows = [["MODULE", "ADDRESS", "COMPONENTS", "READY"]]
        for module in modules.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            let ready = module.status?.conditions.first { $0.type == "Ready" }?.status.rawValue ?? "Unknown"
            moduleRows.append([
                module.metadata.name ?? "?", module.spec.address ?? module.status?.address ?? "-",
                "\(module.status?.components.count ?? 0)", ready,
            ])
        }
        return table(rows) + "\n\n" + table(moduleRows) + "\n"
    }

    /// The recent messages a debug node kept, asked of its module's host (the address of
    /// the node's `TinyModule`).
    /// `token` is what the host requires (``moduleToken(dataDirectory:)``).
    public static func recentMessages(
        node name: String, client: KubernetesClient, namespace: String? = nil, token: String?
    ) async throws -> [Message] {
        guard let node = try await client.api(TinyNode.self, namespace: namespace).getOptional(name) else {
            throw LocalModeError.noSuchNode(name)
        }
        let module = try await client.api(TinyModule.self, namespace: namespace).getOptional(node.spec.module)
        guard let address = module?.spec.address ?? module?.status?.address ?? node.status?.module?.address else {
            throw LocalModeError.noModuleAddress(node: name, module: node.spec.module)
        }
        return try await ModuleHostClient.withClient(address: address, token: token, callTimeout: .seconds(5)) { host in
            try await host.recentMessages(node: name) ?? []
        }
    }

    /// `[node] payload` for one message, as `tinyflow up` and `tinyflow logs` print it.
    public static func format(_ message: Message, node: String) -> String { "[\(node)] \(message.payload)" }

    /// Left-aligned columns separated by three spaces.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "   ")
        }.joined(separator: "\n")
    }
}

/// Which of a debug node's recent messages were shown already: turns each poll of
/// `RecentMessages` into the messages to print, in order, each once.
public struct DebugOutputTracker: Sendable {
    private var seen: [String: Set<String>] = [:]

    /// Tracks nothing yet.
    public init() {}

    /// The messages of `messages` (what `node` keeps now, oldest first) not returned before.
    public mutating func newMessages(_ messages: [Message], node: String) -> [Message] {
        var known = seen[node] ?? []
        let fresh = messages.filter { known.insert($0.id).inserted }
        // Ids of messages the node no longer keeps cannot come back: forget them now and then.
        if known.count > 10_000 { known = Set(messages.map(\.id)) }
        seen[node] = known
        return fresh
    }
}
