import CRDModels
import FlowRevisions
import Foundation
public import KubernetesClient

/// What the console's flows API does, as calls of the Kubernetes API made with the
/// user's own client: every read and write is the user's, so RBAC applies as it would
/// to kubectl. Independent of HTTP, so it is tested against a control plane directly.
public struct FlowsAPI: Sendable {
    /// The field manager of the console's writes.
    public static let fieldManager = "tinyflow-console"
    /// The name under which nodes without a TinyFlow are listed.
    public static let unassignedFlow = "_unassigned"

    /// The client, with the user's credentials.
    public let client: KubernetesClient
    /// The namespace the console works in.
    public let namespace: String
    /// Who the user is, written as the author of their changes.
    public let author: String?
    /// Where the operator's debug endpoint is reached through the service proxy.
    public let operatorService: OperatorServiceReference

    /// An API over `client` in `namespace`.
    public init(client: KubernetesClient, namespace: String, author: String?, operatorService: OperatorServiceReference) {
        self.client = client
        self.namespace = namespace
        self.author = author
        self.operatorService = operatorService
    }

    private var nodesAPI: Api<TinyNode> { client.api(TinyNode.self, namespace: namespace) }
    private var flowsAPI: Api<TinyFlow> { client.api(TinyFlow.self, namespace: namespace) }

    // MARK: Reading

    /// Every flow, and the nodes without one as ``unassignedFlow``.
    public func flows() async throws -> FlowList {
        async let flows = flowsAPI.listAll().items
        async let nodes = nodesAPI.listAll().items
        let byFlow = Dictionary(grouping: try await nodes) { $0.flowName ?? Self.unassignedFlow }
        var summaries = try await flows.compactMap { flow in
            flow.metadata.name.map { Self.summary(of: flow, name: $0, nodes: byFlow[$0] ?? []) }
        }.sorted { $0.name < $1.name }
        if let unassigned = byFlow[Self.unassignedFlow] {
            summaries.append(Self.summary(of: nil, name: Self.unassignedFlow, nodes: unassigned))
        }
        return FlowList(namespace: namespace, flows: summaries)
    }

    /// The flow and its nodes; 404 when there is neither a TinyFlow nor a node of that name.
    public func flow(_ name: String) async throws -> FlowDetail {
        async let flow = name == Self.unassignedFlow ? nil : flowsAPI.getOptional(name)
        async let nodes = self.nodes(of: name)
        let (object, members) = try await (flow, nodes)
        if object == nil, members.isEmpty, name != Self.unassignedFlow {
            throw ConsoleError.notFound("no TinyFlow \"\(name)\" in namespace \"\(namespace)\"")
        }
        return Self.detail(of: object, name: name, namespace: namespace, nodes: members)
    }

    /// The flow's nodes, sorted by name.
    func nodes(of flow: String) async throws -> [TinyNode] {
        try await nodesAPI.listAll().items
            .filter { ($0.flowName ?? Self.unassignedFlow) == flow }
            .sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
    }

    /// The flow's revisions, newest first.
    public func revisions(of flow: String) async throws -> RevisionList {
        let (revisions, current) = try await history(of: flow)
        return RevisionList(
            current: current,
            revisions: revisions.reversed().map {
                RevisionEntry(number: $0.number, author: $0.author, time: $0.time, summary: $0.summary, nodeCount: $0.nodes.count)
            })
    }

    /// Revision `number` and what turns the flow's current nodes into it.
    public func revision(_ number: Int, of flow: String) async throws -> RevisionDetail {
        async let history = self.history(of: flow)
        async let current = nodes(of: flow)
        guard let revision = try await history.revisions.first(where: { $0.number == number }) else {
            throw ConsoleError.notFound("TinyFlow \"\(flow)\" has no revision \(number)")
        }
        let diff = NodeSetDiff(from: FlowHistory.snapshot(of: try await current), to: revision.nodes)
        return RevisionDetail(
            number: revision.number, author: revision.author, time: revision.time, summary: revision.summary,
            nodes: revision.nodes, diff: diff)
    }

    private func history(of flow: String) async throws -> (revisions: [FlowRevision], current: Int?) {
        guard flow != Self.unassignedFlow else { return ([], nil) }
        do {
            return try await FlowRevisions(client: client, namespace: namespace).history(of: flow)
        } catch let error as KubernetesError where error.isNotFound {
            throw ConsoleError.notFound("no TinyFlow \"\(flow)\" in namespace \"\(namespace)\"")
        }
    }

    /// The modules of the namespace with their components.
    public func modules() async throws -> ModuleList {
        let modules = try await client.api(TinyModule.self, namespace: namespace).listAll().items
        return ModuleList(modules: modules.compactMap { module in
            module.metadata.name.map {
                ModuleEntry(name: $0, ready: (module.status?.readyReplicas ?? 0) > 0, components: module.status?.components ?? [])
            }
        }.sorted { $0.name < $1.name })
    }

    /// The node's recent messages, from the operator's debug endpoint through the API
    /// server's service proxy (the user's RBAC on `services/proxy` decides).
    public func messages(of node: String) async throws -> MessagesResult {
        let path = operatorService.proxyPath + "/debug/v1/namespaces/\(escaped(namespace))/nodes/\(escaped(node))/messages"
        let request = KubernetesRequest(
            method: "GET", path: path, verb: .get,
            resource: "services/proxy \"\(operatorService.name)\" in namespace \"\(operatorService.namespace)\"")
        return try await client.send(request, as: MessagesResult.self)
    }

    // MARK: Changing

    /// Makes the flow's node set `request.nodes`: validated first (nothing is applied
    /// if a node is invalid), then the API server's dry run of every changed node,
    /// then each applied as ``fieldManager`` with the summary and author
    /// annotations, and the nodes not in the set deleted.
    public func deploy(_ request: DeployRequest, to flow: String) async throws -> DeployResult {
        guard flow != Self.unassignedFlow else {
            throw ConsoleError.badRequest("nodes without a flow are not deployed as one; name a flow")
        }
        let summary = request.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !summary.isEmpty else {
            throw ConsoleError.invalid("a deploy needs a summary", details: [.init(field: "summary", message: "say what the change is")])
        }
        async let modules = client.api(TinyModule.self, namespace: namespace).listAll().items
        async let allNodes = nodesAPI.listAll().items
        let (moduleList, nodeList) = try await (modules, allNodes)
        let current = nodeList.filter { $0.flowName == flow }
        let others = nodeList.filter { $0.flowName != flow }
        let byName = Dictionary(moduleList.compactMap { module in module.metadata.name.map { ($0, module) } }, uniquingKeysWith: { a, _ in a })
        let problems = FlowDeployment.violations(of: request.nodes, flow: flow, modules: byName, others: others)
        guard problems.isEmpty else {
            throw ConsoleError.invalid("\(problems.count) problem\(problems.count == 1 ? "" : "s") in the flow; nothing was deployed", details: problems)
        }
        let plan = FlowDeployment.plan(request.nodes, flow: flow, current: current)
        // The API server's own checks (its schema, its limits) before anything changes.
        var serverProblems: [ConsoleError.Detail] = []
        for node in plan.apply {
            do {
                _ = try await nodesAPI.patch(
                    node.name, .apply(object: object(for: node, flow: flow, summary: summary)),
                    PatchParameters(fieldManager: Self.fieldManager, force: true, dryRun: true))
            } catch let error as KubernetesError where error.isInvalid {
                let details = ConsoleError(error).details
                serverProblems += details.isEmpty
                    ? [.init(node: node.name, message: ConsoleError(error).message)]
                    : details.map { .init(node: node.name, field: $0.field, message: $0.message) }
            }
        }
        guard serverProblems.isEmpty else {
            throw ConsoleError.invalid("the API server refused the flow; nothing was deployed", details: serverProblems)
        }
        let result = DeployResult(applied: plan.apply.map(\.name), deleted: plan.delete, unchanged: plan.unchanged)
        if request.dryRun == true { return result }
        if try await flowsAPI.getOptional(flow) == nil {
            _ = try await flowsAPI.apply(
                TinyFlow(metadata: ObjectMeta(name: flow, namespace: namespace), spec: TinyFlowSpec()), fieldManager: Self.fieldManager)
        }
        for node in plan.apply {
            _ = try await nodesAPI.apply(object(for: node, flow: flow, summary: summary), fieldManager: Self.fieldManager)
        }
        for name in plan.delete {
            do {
                _ = try await nodesAPI.delete(name)
            } catch let error as KubernetesError where error.isNotFound {
                continue
            }
        }
        return result
    }

    /// The TinyNode the console applies for `node`.
    private func object(for node: FlowNodeSnapshot, flow: String, summary: String) -> TinyNode {
        var annotations = [TinyFlow.changeSummaryAnnotation: summary]
        if let author { annotations[TinyFlow.changeAuthorAnnotation] = author }
        var spec = node.spec
        spec.flow = flow
        return TinyNode(
            metadata: ObjectMeta(name: node.name, namespace: namespace, labels: [TinyFlow.flowLabel: flow], annotations: annotations),
            spec: spec)
    }

    /// Rolls the flow back to revision `number` (which becomes a new revision).
    public func rollback(_ flow: String, to number: Int) async throws -> DeployResult {
        do {
            let result = try await FlowRevisions(client: client, namespace: namespace)
                .rollback(flow, to: number, fieldManager: Self.fieldManager, author: author)
            return DeployResult(applied: result.applied, deleted: result.deleted, unchanged: [])
        } catch let error as RollbackError {
            throw ConsoleError.notFound(error.message)
        } catch let error as KubernetesError where error.isNotFound {
            throw ConsoleError.notFound("no TinyFlow \"\(flow)\" in namespace \"\(namespace)\"")
        }
    }

    /// Creates a TinySignal that sends `request.payload` to the node's port.
    public func signal(_ request: SignalRequest, in flow: String) async throws -> SignalResult {
        let members = try await nodes(of: flow)
        guard members.contains(where: { $0.metadata.name == request.node }) else {
            throw ConsoleError.notFound("flow \"\(flow)\" has no node \"\(request.node)\"")
        }
        var metadata = ObjectMeta(namespace: namespace)
        metadata.generateName = "\(request.node.prefix(40))-"
        if let author { metadata.annotations = [TinyFlow.changeAuthorAnnotation: author] }
        let signal = TinySignal(
            metadata: metadata, spec: TinySignalSpec(node: request.node, port: request.port, payload: request.payload ?? .object([:])))
        let created = try await client.api(TinySignal.self, namespace: namespace).create(signal, PostParameters(fieldManager: Self.fieldManager))
        return SignalResult(name: created.metadata.name ?? "")
    }

    // MARK: Shapes

    static func summary(of flow: TinyFlow?, name: String, nodes: [TinyNode]) -> FlowSummary {
        let (count, ready, health) = FlowHealth.of(nodes)
        return FlowSummary(
            name: name, description: flow?.spec.description, nodeCount: count, readyNodes: ready,
            health: health.rawValue, paused: false, currentRevision: flow?.status?.currentRevision)
    }

    static func detail(of flow: TinyFlow?, name: String, namespace: String, nodes: [TinyNode]) -> FlowDetail {
        let summary = summary(of: flow, name: name, nodes: nodes)
        return FlowDetail(
            name: name, namespace: namespace, description: summary.description, health: summary.health,
            nodeCount: summary.nodeCount, readyNodes: summary.readyNodes, paused: summary.paused,
            currentRevision: summary.currentRevision, nodes: nodes.filter { $0.metadata.deletionTimestamp == nil }.map(NodeView.init))
    }
}

/// A path segment, percent-encoded.
func escaped(_ segment: String) -> String {
    segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? segment
}
