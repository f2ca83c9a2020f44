import CRDModels
import ComponentKit
import Foundation
import GRPCTransport
import KubernetesClient
import KubernetesModels
public import ModuleHostAPI

/// What `tinyflow context` does: finds a module host that serves the scope (the module
/// host holds the store and its credentials; the CLI holds none) and carries the request
/// out there. Works the same against `tinyflow up` and a cluster whose module hosts the
/// caller can reach.
public enum ContextInspection {
    /// Why a context request found no host to ask.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// No TinyNode by that name in the namespace.
        case noSuchNode(String, namespace: String)
        /// No TinyModule with an address in the namespace.
        case noModuleHost(namespace: String)

        /// A sentence naming what is missing.
        public var description: String {
            switch self {
            case .noSuchNode(let name, let namespace): "no TinyNode \"\(name)\" in namespace \(namespace)"
            case .noModuleHost(let namespace): "no TinyModule with an address in namespace \(namespace): no module host to ask"
            }
        }
    }

    /// Carries out `request` on a module host of its scope: a node's own module's host; for a
    /// flow, a host of one of its nodes' modules; else any module host of the namespace
    /// (module hosts of one installation share the store).
    /// `token` is what the hosts require (local mode), if anything.
    public static func perform(_ request: ContextRequest, client: KubernetesClient, token: String?) async throws -> ContextResponse {
        let namespace = request.namespace
        var preferred: [String] = []
        switch request.scope {
        case .node(_, let name):
            guard let node = try await client.api(TinyNode.self, namespace: namespace).getOptional(name) else {
                throw Failure.noSuchNode(name, namespace: namespace)
            }
            preferred = [node.spec.module]
        case .flow(_, let flow):
            let nodes = try await client.api(TinyNode.self, namespace: namespace).listAll().items
            preferred = Array(Set(nodes.filter { $0.flowName == flow }.map(\.spec.module))).sorted()
        case .global:
            break
        }
        let candidates = try await ModuleHostAddresses.candidates(in: namespace, preferring: preferred, client: client)
        guard let address = candidates.first else { throw Failure.noModuleHost(namespace: namespace) }
        return try await ModuleHostClient.withClient(address: address, token: token, callTimeout: .seconds(10)) { host in
            try await host.context(request)
        }
    }
}
