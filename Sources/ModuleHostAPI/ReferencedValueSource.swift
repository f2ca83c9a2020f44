public import ConfigurationReferences

/// What a module host knows of a Secret or ConfigMap its nodes refer to.
public enum ReferencedObjectState: Sendable, Hashable {
    /// The object exists with this data (a Secret's values decoded from base64).
    case found([String: String])
    /// The API server says there is no such object.
    case notFound
    /// The object could not be read: the API is unreachable, the host may not read it, or
    /// the host has no API at all (`tinyflow run`); says why.
    case unavailable(String)
}

/// Where a module host reads the Secrets and ConfigMaps that its nodes' configurations
/// refer to (`${secret:…}`, `${configmap:…}`, parameters' `valueFrom`): on a cluster and
/// under `tinyflow up` the Kubernetes API of the host's own namespace, watched so that a
/// changed value reaches the nodes within seconds; in tests a fake.
public protocol ReferencedValueSource: Sendable {
    /// Makes `objects` exactly the objects followed: starts following new ones, stops
    /// following those not named. Returns once each new object was read once (or
    /// failed to be), so that ``state(of:)`` answers for it.
    func track(_ objects: Set<ReferencedObject>) async
    /// What is known of `object` now (``ReferencedObjectState/unavailable(_:)`` for an
    /// object not followed).
    func state(of object: ReferencedObject) -> ReferencedObjectState
    /// Calls `body` after the data of followed objects changed (changes close together
    /// may be told once), until the calling task is cancelled.
    func whenChanged(_ body: @Sendable () async -> Void) async
}

/// The source of a host without a Kubernetes API (`tinyflow run`, tests): every object
/// is unavailable, so nodes that refer to Secrets or ConfigMaps fail with a clear reason.
public struct NoReferencedValues: ReferencedValueSource {
    /// Why nothing can be read, for the nodes' errors.
    public var reason: String

    /// A source that reads nothing because of `reason`.
    public init(reason: String = "this module host has no Kubernetes API to read Secrets and ConfigMaps from") {
        self.reason = reason
    }

    public func track(_ objects: Set<ReferencedObject>) async {}
    public func state(of object: ReferencedObject) -> ReferencedObjectState { .unavailable(reason) }
    public func whenChanged(_ body: @Sendable () async -> Void) async {
        // Nothing ever changes: wait, without waking, until cancelled.
        let (stream, continuation) = AsyncStream<Never>.makeStream()
        await withTaskCancellationHandler {
            for await _ in stream {}
        } onCancel: {
            continuation.finish()
        }
    }
}
