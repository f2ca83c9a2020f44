import CRDModels
import Foundation
public import KubernetesClient

/// What `tinyflow flow pause` and `tinyflow flow resume` do, against any API server: set a
/// TinyFlow's `spec.paused` with a merge patch. The operator does the rest: a paused flow's
/// sources stop and its durable edges hold their messages until it is resumed.
public struct FlowPause: Sendable {
    /// The field manager the patches are made as.
    public static let fieldManager = "tinyflow-pause"

    private let client: KubernetesClient
    private let namespace: String

    /// Works on TinyFlows in `namespace`.
    public init(client: KubernetesClient, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    /// Sets `flow`'s `spec.paused` to `paused`; returns the flow as stored. Throws
    /// ``FlowPauseError/noSuchFlow(_:namespace:)`` when there is no such TinyFlow.
    @discardableResult
    public func setPaused(_ paused: Bool, flow: String, fieldManager: String = Self.fieldManager) async throws -> TinyFlow {
        do {
            return try await client.api(TinyFlow.self, namespace: namespace).patch(
                flow, .merge(["spec": ["paused": .bool(paused)]]), PatchParameters(fieldManager: fieldManager))
        } catch let error as KubernetesError where error.isNotFound {
            throw FlowPauseError.noSuchFlow(flow, namespace: namespace)
        }
    }
}

/// Why a flow could not be paused or resumed.
public enum FlowPauseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No TinyFlow by that name in the namespace.
    case noSuchFlow(String, namespace: String)

    /// A sentence naming what is missing.
    public var description: String {
        switch self {
        case .noSuchFlow(let flow, let namespace): "no TinyFlow \"\(flow)\" in namespace \(namespace)"
        }
    }
}
