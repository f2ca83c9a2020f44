public import Foundation
public import JSONSchemaKit
public import KubernetesModels

/// The typed API of one kind `K` in one namespace (or cluster wide): the
/// request layer (``ResourceRequests``) plus a ``KubernetesClient`` to send.
public struct Api<K: KubernetesObject>: Sendable {
    /// The client that sends the requests.
    public let client: KubernetesClient
    /// The requests this API sends (no I/O).
    public let requests: ResourceRequests<K>

    /// The API of `K` in `namespace` (nil: cluster-scoped kinds, or all namespaces for list and watch).
    public init(client: KubernetesClient, namespace: String?) {
        self.client = client
        self.requests = ResourceRequests(namespace: namespace)
    }

    /// The namespace, if any.
    public var namespace: String? { requests.namespace }

    /// Reads the object `name`.
    public func get(_ name: String) async throws -> K {
        try await client.send(requests.get(name), as: K.self)
    }

    /// Reads the object `name`, or nil if it does not exist.
    public func getOptional(_ name: String) async throws -> K? {
        do {
            return try await get(name)
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
    }

    /// Reads one page of the collection (`limit`/`continue` in `parameters`).
    public func list(_ parameters: ListParameters = ListParameters()) async throws -> KubernetesList<K> {
        try await client.send(requests.list(parameters), as: KubernetesList<K>.self)
    }

    /// Reads the whole collection, `pageSize` objects per request; the result
    /// carries the first page's resourceVersion (pages are one consistent snapshot).
    public func listAll(_ parameters: ListParameters = ListParameters(), pageSize: Int = 500) async throws -> KubernetesList<K> {
        var page = parameters
        page.limit = pageSize
        page.continue = nil
        var first = try await list(page)
        var token = first.metadata.continue
        while let next = token, !next.isEmpty {
            page.continue = next
            let more = try await list(page)
            first.items += more.items
            token = more.metadata.continue
        }
        first.metadata.continue = nil
        first.metadata.remainingItemCount = nil
        return first
    }

    /// Creates `object`; returns it as stored.
    public func create(_ object: K, _ parameters: PostParameters = PostParameters()) async throws -> K {
        try await client.send(requests.create(object, parameters), as: K.self)
    }

    /// Replaces the object with `object` (PUT). With `metadata.resourceVersion`
    /// set, the server refuses with `409 Conflict` if the object changed since.
    public func replace(_ object: K, _ parameters: PostParameters = PostParameters()) async throws -> K {
        try await client.send(requests.replace(try name(of: object), object, parameters), as: K.self)
    }

    /// Reads the object, applies `mutate` and replaces it; on `409 Conflict`
    /// reads it again and repeats, up to `maxAttempts` times.
    @discardableResult
    public func update(_ name: String, maxAttempts: Int = 5, _ mutate: @Sendable (inout K) throws -> Void) async throws -> K {
        try await retryOnConflict(maxAttempts: maxAttempts) {
            var object = try await get(name)
            try mutate(&object)
            return try await replace(object)
        }
    }

    /// Deletes the object; returns its last state when the server answered with it
    /// (finalizers pending) or nil when it answered with a `Status`.
    @discardableResult
    public func delete(_ name: String, _ options: DeleteOptions = DeleteOptions()) async throws -> K? {
        let data = try await client.send(try requests.delete(name, options))
        return try? JSONValueDecoder().decode(K.self, from: data)
    }

    /// Patches the object.
    public func patch(_ name: String, _ patch: Patch, _ parameters: PatchParameters = PatchParameters()) async throws -> K {
        try await client.send(requests.patch(name, patch, parameters), as: K.self)
    }

    /// Server-side applies `object` as `fieldManager`, forcing ownership of the fields it sets.
    public func apply(_ object: K, fieldManager: String, force: Bool = true) async throws -> K {
        try await patch(try name(of: object), .apply(object: object), .apply(fieldManager, force: force))
    }

    /// Reads the object through its `/status` subresource.
    public func getStatus(_ name: String) async throws -> K {
        try await client.send(requests.get(name, subresource: "status"), as: K.self)
    }

    /// Replaces the status (only `status` is taken from `object`).
    public func replaceStatus(_ object: K, _ parameters: PostParameters = PostParameters()) async throws -> K {
        try await client.send(requests.replace(try name(of: object), object, subresource: "status", parameters), as: K.self)
    }

    /// Patches the status subresource (e.g. server-side apply of `{status: …}`).
    public func patchStatus(_ name: String, _ patch: Patch, _ parameters: PatchParameters = PatchParameters()) async throws -> K {
        try await client.send(requests.patch(name, patch, subresource: "status", parameters), as: K.self)
    }

    /// Watches the collection from `resourceVersion`: events as the server
    /// sends them, decoded line by line. The sequence ends when the server
    /// ends the watch (resume from the last event's resourceVersion), and
    /// throws ``KubernetesError`` on a `410` (as status or `ERROR` event:
    /// relist) and ``WatchIdleError`` when nothing, not even a bookmark,
    /// arrived for `idleTimeout`.
    public func watch(
        resourceVersion: String?, _ parameters: WatchParameters = WatchParameters(), idleTimeout: Duration? = nil
    ) async throws -> WatchStream<K> {
        let request = requests.watch(parameters, resourceVersion: resourceVersion)
        let response = try await client.open(request, timeout: .seconds(parameters.timeoutSeconds + 30))
        return WatchStream(
            body: response.body, request: request,
            idleTimeout: idleTimeout ?? .seconds(max(parameters.timeoutSeconds, 1) + 30))
    }

    private func name(of object: K) throws -> String {
        guard let name = object.metadata.name, !name.isEmpty else {
            throw KubernetesError(verb: .update, resource: K.plural, underlying: "the object has no metadata.name")
        }
        return name
    }
}
