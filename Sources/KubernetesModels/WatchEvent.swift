public import Foundation
public import JSONSchemaKit

/// The type of a watch event as the API server writes it.
public enum WatchEventType: String, Codable, Sendable, Hashable {
    /// An object appeared (or is listed at the start of a watch without a resourceVersion).
    case added = "ADDED"
    /// An object changed.
    case modified = "MODIFIED"
    /// An object was deleted; the event carries its last state.
    case deleted = "DELETED"
    /// No change: the collection reached the carried resourceVersion.
    case bookmark = "BOOKMARK"
    /// The watch failed; the event carries a ``Status`` (e.g. `410 Expired`).
    case error = "ERROR"
}

/// One event of a watch stream (`metav1.WatchEvent`), decoded for kind `K`.
public enum WatchEvent<K: KubernetesObject>: Sendable {
    /// An object appeared.
    case added(K)
    /// An object changed.
    case modified(K)
    /// An object was deleted (its last state).
    case deleted(K)
    /// The collection reached this resourceVersion; nothing changed.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with an error.
    case error(Status)

    /// The object's or bookmark's resourceVersion, if the event carries one.
    public var resourceVersion: String? {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): object.metadata.resourceVersion
        case .bookmark(let version): version
        case .error: nil
        }
    }

    /// Decodes one line of a watch stream (`{"type": …, "object": …}`).
    public init(line: Data) throws {
        let envelope = try JSONValueDecoder().decode(RawWatchEvent.self, from: line)
        switch envelope.type {
        case .added: self = .added(try envelope.object.decode(as: K.self))
        case .modified: self = .modified(try envelope.object.decode(as: K.self))
        case .deleted: self = .deleted(try envelope.object.decode(as: K.self))
        case .bookmark:
            self = .bookmark(resourceVersion: envelope.object["metadata"]?["resourceVersion"]?.stringValue ?? "")
        case .error:
            self = .error((try? envelope.object.decode(as: Status.self)) ?? Status(message: envelope.object.jsonString))
        }
    }
}

/// A watch event before its object is decoded.
public struct RawWatchEvent: Codable, Sendable, Hashable {
    /// The event type.
    public var type: WatchEventType
    /// The object (or `Status` for `ERROR`).
    public var object: JSONValue

    /// Creates an event.
    public init(type: WatchEventType, object: JSONValue) {
        self.type = type
        self.object = object
    }
}
