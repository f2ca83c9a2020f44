public import CRDModels
import Foundation
public import KubernetesClient

/// A TinyFlow's revision history: each change of the flow's node set is a
/// numbered revision; rolling back re-applies one and becomes a new revision.
/// Pure, so history and rollback are unit-tested without a server.
public enum FlowHistory {
    /// The nodes of a flow as a revision stores them: names and specs, sorted by name.
    public static func snapshot(of nodes: [TinyNode]) -> [FlowNodeSnapshot] {
        nodes.filter { $0.metadata.deletionTimestamp == nil }
            .compactMap { node in node.metadata.name.map { FlowNodeSnapshot(name: $0, spec: node.spec) } }
            .sorted { $0.name < $1.name }
    }

    /// `status` with a new revision recorded if the node set differs from the
    /// current revision's; `nil` when nothing changed.
    ///
    /// - Parameters:
    ///   - author: who made the change (field manager or user), if known.
    ///   - summary: the `tinyflow.dev/change-summary` annotation, if any; else a
    ///     summary is generated from the difference.
    ///   - limit: how many revisions to keep (the oldest are dropped).
    public static func record(
        _ nodes: [TinyNode], in status: TinyFlowStatus, author: String?, summary: String?, now: Timestamp, limit: Int
    ) -> TinyFlowStatus? {
        let snapshot = snapshot(of: nodes)
        let current = status.revisions.first { $0.number == status.currentRevision }
        if let current, current.nodes == snapshot { return nil }
        if current == nil, snapshot.isEmpty, status.revisions.isEmpty { return nil }
        var updated = status
        let number = (status.revisions.map(\.number).max() ?? 0) + 1
        let text = summary.flatMap { $0.isEmpty ? nil : $0 } ?? describeChange(from: current?.nodes ?? [], to: snapshot)
        updated.revisions.append(FlowRevision(number: number, author: author, time: now, summary: text, nodes: snapshot))
        if updated.revisions.count > max(1, limit) {
            updated.revisions.removeFirst(updated.revisions.count - max(1, limit))
        }
        updated.currentRevision = number
        return updated
    }

    /// What the operator caches of a TinyFlow: every revision's number, author, time
    /// and summary, but the nodes of the current revision only — the one new node
    /// sets are compared with. (A flow of 200 nodes with 10 revisions carries 2,000
    /// node specs; the history command and rollback read them from the API server.)
    /// Status writes of cached flows go through ``statusPatch(from:to:)``, which never
    /// sends a revision back.
    public static func cachedForm(of flow: TinyFlow) -> TinyFlow {
        guard var status = flow.status, status.revisions.contains(where: { $0.number != status.currentRevision && !$0.nodes.isEmpty })
        else { return flow }
        for index in status.revisions.indices where status.revisions[index].number != status.currentRevision {
            status.revisions[index].nodes = []
        }
        var flow = flow
        flow.status = status
        return flow
    }

    /// The JSON patch of the status subresource that turns `old`, a status as
    /// cached (``cachedForm(of:)``), into `new`: changed fields are set, revisions
    /// that `new` no longer has are removed from the front and new ones appended.
    /// Revisions both have are left as stored, so the nodes the cache dropped stay.
    /// The patch fails (422) if the stored history moved on meanwhile.
    public static func statusPatch(from old: TinyFlowStatus?, to new: TinyFlowStatus) throws -> [JSONPatchOperation] {
        guard let old else { return [.add("/status", try JSONValue(encoding: new))] }
        var operations: [JSONPatchOperation] = []
        if let current = old.currentRevision { operations.append(.test("/status/currentRevision", .integer(current))) }
        let (before, after) = (try JSONValue(encoding: old).objectValue ?? [:], try JSONValue(encoding: new).objectValue ?? [:])
        for field in Set(before.keys).union(after.keys).sorted() where field != "revisions" {
            switch (before[field], after[field]) {
            case (let stored, let wanted?) where stored != wanted: operations.append(.add("/status/\(field)", wanted))
            case (_?, nil): operations.append(.remove("/status/\(field)"))
            default: break
            }
        }
        let kept = Set(new.revisions.map(\.number))
        var index = 0
        for revision in old.revisions {
            guard kept.contains(revision.number) else {
                operations.append(.test("/status/revisions/\(index)/number", .integer(revision.number)))
                operations.append(.remove("/status/revisions/\(index)"))
                continue
            }
            index += 1
        }
        let known = Set(old.revisions.map(\.number))
        let added = new.revisions.filter { !known.contains($0.number) }
        if index == 0, !added.isEmpty {
            operations.append(.add("/status/revisions", try JSONValue(encoding: added)))
        } else {
            for revision in added { operations.append(.add("/status/revisions/-", try JSONValue(encoding: revision))) }
        }
        return operations
    }

    /// What rolling back to `revision` means for the flow's current nodes:
    /// the specs to apply (create or replace) and the node names to delete.
    public static func rollback(
        to revision: FlowRevision, current nodes: [TinyNode]
    ) -> (apply: [FlowNodeSnapshot], delete: [String]) {
        let wanted = Set(revision.nodes.map(\.name))
        let present = snapshot(of: nodes)
        let presentByName = Dictionary(present.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let apply = revision.nodes.filter { presentByName[$0.name] != $0 }
        let delete = present.map(\.name).filter { !wanted.contains($0) }
        return (apply, delete)
    }

    /// A one-line summary such as `added b; changed a; removed c`.
    public static func describeChange(from old: [FlowNodeSnapshot], to new: [FlowNodeSnapshot]) -> String {
        let before = Dictionary(old.map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let added = after.keys.filter { before[$0] == nil }.sorted()
        let removed = before.keys.filter { after[$0] == nil }.sorted()
        let changed = after.keys.filter { name in before[name].map { $0 != after[name] } ?? false }.sorted()
        var parts: [String] = []
        if !added.isEmpty { parts.append("added " + added.joined(separator: ", ")) }
        if !changed.isEmpty { parts.append("changed " + changed.joined(separator: ", ")) }
        if !removed.isEmpty { parts.append("removed " + removed.joined(separator: ", ")) }
        return parts.isEmpty ? "no change" : parts.joined(separator: "; ")
    }
}
