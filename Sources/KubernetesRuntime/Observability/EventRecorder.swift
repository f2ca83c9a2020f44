import Foundation
public import KubernetesClient
public import KubernetesModels
import JSONSchemaKit
import Synchronization

/// Publishes `events.k8s.io/v1` Events about objects. The same event about
/// the same object within `seriesWindow` is not created again: the existing
/// Event's `series` (count, last observed time) is updated instead, as
/// client-go's event recorder does. At most ``seriesCapacity`` series are remembered:
/// past that, expired ones and then the least recently observed are forgotten.
public final class EventRecorder: Sendable {
    /// `Normal` or `Warning`.
    public enum EventType: String, Sendable, Hashable {
        /// Expected transitions.
        case normal = "Normal"
        /// Something needs attention.
        case warning = "Warning"
    }

    /// What makes events one series: the object (its uid, else kind, namespace and
    /// name), the type, reason, action and note. Kept small: the recorder holds
    /// thousands of them.
    private struct SeriesKey: Hashable {
        var regarding: String
        var type: EventType
        var reason: String
        var action: String
        var note: String
    }

    private struct Entry {
        var namespace: String
        var name: String
        var count: Int
        var lastObserved: Date
    }

    private let client: KubernetesClient
    /// The controller named in each event, e.g. `tinyflow.dev/operator`.
    public let reportingController: String
    /// The instance named in each event, e.g. the pod name.
    public let reportingInstance: String
    /// How long after an event the same one counts as a repetition.
    public let seriesWindow: Duration
    /// How many event series are remembered at most.
    public let seriesCapacity: Int
    private let cache = Mutex<[SeriesKey: Entry]>([:])

    /// A recorder writing through `client`.
    public init(
        client: KubernetesClient, reportingController: String, reportingInstance: String, seriesWindow: Duration = .seconds(360),
        seriesCapacity: Int = 4096
    ) {
        self.client = client
        self.seriesCapacity = max(1, seriesCapacity)
        self.reportingController = reportingController
        self.reportingInstance = reportingInstance
        self.seriesWindow = seriesWindow
    }

    /// Publishes an event about `object`; returns the Event as stored.
    @discardableResult
    public func publish<K: KubernetesObject>(
        _ type: EventType = .normal, reason: String, action: String, note: String = "", regarding object: K
    ) async throws -> Event {
        try await publish(type, reason: reason, action: action, note: note, regarding: ObjectReference(to: object))
    }

    /// Publishes an event about `regarding`; returns the Event as stored.
    @discardableResult
    public func publish(
        _ type: EventType = .normal, reason: String, action: String, note: String = "", regarding: ObjectReference
    ) async throws -> Event {
        var reference = regarding
        reference.resourceVersion = nil
        let key = SeriesKey(
            regarding: reference.uid ?? "\(reference.kind ?? "")/\(reference.namespace ?? "")/\(reference.name ?? "")",
            type: type, reason: reason, action: action, note: note)
        let now = Date()
        let window = Double(seriesWindow.components.seconds)
        let existing = cache.withLock { cache -> Entry? in
            guard var entry = cache[key], now.timeIntervalSince(entry.lastObserved) < window else { return nil }
            entry.count += 1
            entry.lastObserved = now
            cache[key] = entry
            return entry
        }
        if let existing {
            let api = client.api(Event.self, namespace: existing.namespace)
            let patch: JSONValue = ["series": ["count": .integer(existing.count), "lastObservedTime": .string(MicroTime(now).description)]]
            do {
                return try await api.patch(existing.name, .merge(patch))
            } catch let error as KubernetesError where error.isNotFound {
                // The event expired on the server; start a new one.
            }
        }
        let namespace = reference.namespace ?? "default"
        let name = "\(reference.name ?? "event").\(String(UInt64(now.timeIntervalSince1970 * 1e9), radix: 16))"
        let event = Event(
            metadata: ObjectMeta(name: name, namespace: namespace), eventTime: MicroTime(now),
            reportingController: reportingController, reportingInstance: reportingInstance, action: action, reason: reason,
            regarding: reference, note: note.isEmpty ? nil : String(note.prefix(1024)), type: type.rawValue)
        let stored = try await client.api(Event.self, namespace: namespace).create(event)
        cache.withLock { cache in
            cache[key] = Entry(namespace: namespace, name: name, count: 1, lastObserved: now)
            if cache.count > seriesCapacity { Self.evict(from: &cache, now: now, window: window, capacity: seriesCapacity) }
        }
        return stored
    }

    /// The number of event series remembered now.
    public var rememberedSeries: Int { cache.withLock { $0.count } }

    /// Forgets expired series, then the least recently observed, down to 3/4 of
    /// `capacity` (so that eviction runs once per many events, not on each).
    private static func evict(from cache: inout [SeriesKey: Entry], now: Date, window: Double, capacity: Int) {
        cache = cache.filter { now.timeIntervalSince($0.value.lastObserved) < window }
        let keep = capacity * 3 / 4
        guard cache.count > keep else { return }
        let oldest = cache.sorted { $0.value.lastObserved < $1.value.lastObserved }.prefix(cache.count - keep)
        for (key, _) in oldest { cache[key] = nil }
    }
}
