import CRDModels
import Foundation
public import KubernetesClient

/// What `tinyflow flow history` and `tinyflow flow rollback` do, against any
/// API server: read a TinyFlow's revisions, and re-apply one of them.
public struct FlowRevisions: Sendable {
    /// The field manager rollbacks apply nodes with.
    public static let fieldManager = "tinyflow-rollback"

    private let client: KubernetesClient
    private let namespace: String

    /// Works on TinyFlows in `namespace`.
    public init(client: KubernetesClient, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    /// The flow's revisions, oldest first, and the number of the deployed one.
    public func history(of flow: String) async throws -> (revisions: [FlowRevision], current: Int?) {
        let object = try await client.api(TinyFlow.self, namespace: namespace).get(flow)
        return (object.status?.revisions ?? [], object.status?.currentRevision)
    }

    /// Makes the flow's node set equal to revision `number`: nodes of the
    /// revision are applied (created or replaced) and nodes the revision does
    /// not have are deleted. The operator records the result as a new revision,
    /// summarised "rollback to revision N".
    ///
    /// - Parameters:
    ///   - fieldManager: whose write it is (``fieldManager`` for `tinyflow flow rollback`).
    ///   - author: who asked, written as the `tinyflow.dev/change-author` annotation.
    /// - Returns: the names applied and deleted.
    @discardableResult
    public func rollback(
        _ flow: String, to number: Int, fieldManager: String = Self.fieldManager, author: String? = nil
    ) async throws -> (applied: [String], deleted: [String]) {
        let (revisions, _) = try await history(of: flow)
        guard let revision = revisions.first(where: { $0.number == number }) else {
            let known = revisions.map { String($0.number) }.joined(separator: ", ")
            throw RollbackError(message: "TinyFlow \"\(flow)\" has no revision \(number) (revisions: \(known.isEmpty ? "none" : known))")
        }
        let nodes = client.api(TinyNode.self, namespace: namespace)
        let current = try await nodes.list(ListParameters(labelSelector: "\(TinyFlow.flowLabel)=\(flow)")).items
        let plan = FlowHistory.rollback(to: revision, current: current)
        for snapshot in plan.apply {
            var spec = snapshot.spec
            spec.flow = flow
            var annotations = [TinyFlow.changeSummaryAnnotation: "rollback to revision \(number)"]
            if let author { annotations[TinyFlow.changeAuthorAnnotation] = author }
            var metadata = ObjectMeta(
                name: snapshot.name, namespace: namespace, labels: [TinyFlow.flowLabel: flow], annotations: annotations)
            metadata.generation = nil
            _ = try await nodes.apply(TinyNode(metadata: metadata, spec: spec), fieldManager: fieldManager, force: true)
        }
        for name in plan.delete {
            _ = try await nodes.delete(name)
        }
        return (plan.apply.map(\.name), plan.delete)
    }
}

/// A rollback that cannot be done, and why.
public struct RollbackError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public var message: String
    public var description: String { message }
}
