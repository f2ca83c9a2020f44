import JSONSchemaKit

/// One change to the store, kept until it is on disk and then in the bounded history
/// for resuming watches and for consistent paginated lists.
struct ChangeRecord: Sendable {
    enum Kind: Sendable {
        case added, modified, deleted
    }

    var resourceVersion: Int
    var type: Kind
    /// The resource (`ResourceType.storageKey`).
    var storageKey: String
    /// `namespace/name` (`/name` for cluster-scoped objects).
    var key: String
    /// The object as stored (for a deletion: as it was, with the deletion's resourceVersion).
    var object: JSONValue
    /// The object before the change; nil for a creation.
    var previous: JSONValue?
}

/// The objects the control plane serves, by resource and `namespace/name`, with the one
/// global resourceVersion and the change history behind it. A value: no I/O, no locks.
///
/// A change is applied at once (later requests see it, resourceVersions stay in order) and
/// is *undurable* until the API server's group commit reports it on disk with
/// ``markDurable(through:)``; then it joins the history, which keeps at least
/// `historyCapacity` changes. Watches resume from the history and paginated lists rebuild
/// their snapshot from it; what is older has been compacted away: `410 Gone`.
struct ObjectStore: Sendable {
    /// storageKey → `namespace/name` → object.
    private(set) var objects: [String: [String: JSONValue]]
    /// The resourceVersion of the latest change (durable or not).
    private(set) var resourceVersion: Int
    /// Every change up to this resourceVersion is on disk.
    private(set) var durableVersion: Int
    /// Changes applied but not yet on disk, oldest first: resourceVersions `durableVersion + 1 ... resourceVersion`.
    private(set) var undurable: [ChangeRecord] = []
    /// Durable changes after `historyStart`, oldest first.
    private(set) var history: [ChangeRecord] = []
    /// Watches and continue tokens from resourceVersions below this one get `410 Gone`.
    private(set) var historyStart: Int
    /// How many changes the history keeps at least.
    let historyCapacity: Int

    /// A store holding `objects` (e.g. as loaded from disk) at `resourceVersion`, all durable, with no history.
    init(historyCapacity: Int, resourceVersion: Int = 0, objects: [String: [String: JSONValue]] = [:]) {
        self.historyCapacity = historyCapacity
        self.resourceVersion = resourceVersion
        self.durableVersion = resourceVersion
        self.historyStart = resourceVersion
        self.objects = objects
    }

    // MARK: Keys and reads

    /// The key of an object within its resource: `namespace/name`, or `/name` when cluster-scoped.
    static func objectKey(namespace: String?, name: String) -> String { (namespace ?? "") + "/" + name }

    /// The key of `object`, from its metadata.
    static func key(of object: JSONValue) -> String {
        objectKey(namespace: object["metadata"]?["namespace"]?.stringValue, name: object["metadata"]?["name"]?.stringValue ?? "")
    }

    /// The object stored under `key` in resource `storageKey`.
    func object(_ storageKey: String, _ key: String) -> JSONValue? {
        objects[storageKey]?[key]
    }

    /// Every object of resource `storageKey`, by key.
    func objects(of storageKey: String) -> [String: JSONValue] {
        objects[storageKey] ?? [:]
    }

    /// Whether any object of any resource lives in `namespace`.
    func hasContent(namespace: String) -> Bool {
        let prefix = namespace + "/"
        return objects.values.contains { $0.keys.contains { $0.hasPrefix(prefix) } }
    }

    // MARK: Writes

    /// Stores `object` (a creation when `previous` is nil, else an update of `previous`) under
    /// the next resourceVersion; returns it as stored.
    mutating func put(_ object: JSONValue, storageKey: String, previous: JSONValue?) -> JSONValue {
        let next = resourceVersion + 1
        var stored = object
        var metadata = stored["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        stored["metadata"] = .object(metadata)
        let key = Self.key(of: stored)
        resourceVersion = next
        objects[storageKey, default: [:]][key] = stored
        undurable.append(ChangeRecord(resourceVersion: next, type: previous == nil ? .added : .modified, storageKey: storageKey,
                                      key: key, object: stored, previous: previous))
        return stored
    }

    /// Removes `object` under the next resourceVersion; returns it with that resourceVersion
    /// (what the `DELETED` event carries).
    mutating func remove(_ object: JSONValue, storageKey: String) -> JSONValue {
        let next = resourceVersion + 1
        let key = Self.key(of: object)
        resourceVersion = next
        objects[storageKey, default: [:]][key] = nil
        var final = object
        var metadata = final["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        final["metadata"] = .object(metadata)
        undurable.append(ChangeRecord(resourceVersion: next, type: .deleted, storageKey: storageKey, key: key,
                                      object: final, previous: object))
        return final
    }

    // MARK: Durability and history

    /// The undurable changes after `version` (what the next group commit writes).
    func undurableChanges(after version: Int) -> ArraySlice<ChangeRecord> {
        let start = undurable.firstIndex { $0.resourceVersion > version } ?? undurable.endIndex
        return undurable[start...]
    }

    /// Records that every change up to `version` is on disk: they move into the history,
    /// which drops its oldest changes once it holds a quarter (at least 16) more than its capacity.
    mutating func markDurable(through version: Int) {
        let end = undurable.firstIndex { $0.resourceVersion > version } ?? undurable.endIndex
        guard end > undurable.startIndex else { return }
        let slack = max(16, historyCapacity / 4)
        for change in undurable[..<end] {
            history.append(change)
            if history.count > historyCapacity + slack {
                let drop = history.count - historyCapacity
                historyStart = history[drop - 1].resourceVersion
                history.removeFirst(drop)
            }
        }
        durableVersion = undurable[end - 1].resourceVersion
        undurable.removeFirst(end)
    }

    /// Forgets the history (what etcd compaction does): watches and continue tokens from
    /// before the durable state get `410 Gone`.
    mutating func compactHistory() {
        history.removeAll()
        historyStart = durableVersion
    }

    /// The durable changes after `version`, for a watch that resumes there; `410 Gone` if
    /// the history no longer reaches back to it.
    func changes(after version: Int) throws(APIError) -> ArraySlice<ChangeRecord> {
        guard version >= historyStart else {
            throw APIError.gone("too old resource version: \(version) (\(historyStart))")
        }
        // The history is in resourceVersion order: find the first change after `version` by bisection.
        var low = history.startIndex, high = history.endIndex
        while low < high {
            let middle = low + (high - low) / 2
            if history[middle].resourceVersion > version { high = middle } else { low = middle + 1 }
        }
        return history[low...]
    }

    // MARK: Past states

    /// The objects of resource `storageKey` as of `durableVersion`: without the changes not yet on disk.
    func durableObjects(of storageKey: String) -> [String: JSONValue] {
        var state = objects[storageKey] ?? [:]
        for change in undurable.reversed() where change.storageKey == storageKey {
            state[change.key] = change.previous
        }
        return state
    }

    /// The objects of resource `storageKey` as they were at `version`, rebuilt from the
    /// history; `410 Gone` if it no longer reaches back that far.
    func snapshot(of storageKey: String, at version: Int) throws(APIError) -> [String: JSONValue] {
        var state = objects[storageKey] ?? [:]
        guard version < resourceVersion else { return state }
        guard version >= historyStart else {
            throw APIError.gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
        }
        for changes in [undurable, history] {
            for change in changes.reversed() {
                guard change.resourceVersion > version else { return state }
                if change.storageKey == storageKey { state[change.key] = change.previous }
            }
        }
        return state
    }

    // MARK: Lists

    /// One page of a list.
    struct ListPage {
        /// The objects of the page, in key order, as stored.
        var items: [JSONValue]
        /// The resourceVersion the page shows.
        var resourceVersion: Int
        /// Where the next page starts; nil on the last page.
        var next: ContinueToken?
        /// How many objects the later pages hold (with `next`).
        var remainingItemCount: Int?
    }

    /// The objects of resource `storageKey` that pass `filter`, in key order, at most
    /// `limit` (0: all): at the latest resourceVersion, at an exact one (`504` if it is in
    /// the future, `410` if the history no longer reaches back), or continuing a page at
    /// its list's resourceVersion.
    func list(_ storageKey: String, filter: ObjectFilter, from start: RequestOptions.ListStart, limit: Int) throws(APIError) -> ListPage {
        var listVersion = resourceVersion
        let state: [String: JSONValue]
        var after: String?
        switch start {
        case .latest:
            state = objects(of: storageKey)
        case .page(let token):
            listVersion = token.rv
            state = try snapshot(of: storageKey, at: token.rv)
            after = token.start
        case .exact(let exact):
            guard exact <= resourceVersion else {
                throw APIError(code: 504, reason: "Timeout", message: "Too large resource version: \(exact), current: \(resourceVersion)",
                               details: ["causes": [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]], "retryAfterSeconds": 1])
            }
            do {
                state = try snapshot(of: storageKey, at: exact)
            } catch {
                throw APIError.gone("too old resource version: \(exact) (\(historyStart))")
            }
            listVersion = exact
        }
        var page = ListPage(items: [], resourceVersion: listVersion)
        let keys = state.keys.sorted()
        var index = keys.startIndex
        if let after { index = keys.firstIndex { $0 > after } ?? keys.endIndex }
        while index < keys.endIndex {
            let key = keys[index]
            index += 1
            guard let object = state[key], filter.matches(object) else { continue }
            page.items.append(object)
            if limit > 0 && page.items.count == limit {
                var rest = 0
                for key in keys[index...] where state[key].map(filter.matches) ?? false { rest += 1 }
                if rest > 0 {
                    page.next = ContinueToken(rv: listVersion, start: key)
                    page.remainingItemCount = rest
                }
                break
            }
        }
        return page
    }
}
