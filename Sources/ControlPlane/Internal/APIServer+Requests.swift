import Foundation
import JSONSchemaKit
import YAMLValues

/// An HTTP request as the API server core sees it.
struct APIRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var contentType: String
    var accept: String
    var userAgent: String
    var body: Data
}

/// How a watch stream's items are rendered for its client.
struct WatchRendering: Sendable {
    var type: ResourceType
    var version: String
    var table: Bool
    var includeObject: String
}

/// The core's answer: a JSON document, or a watch stream for the HTTP layer to send.
enum APIResponse: Sendable {
    case json(status: Int, JSONValue)
    /// A non-JSON document (the protobuf OpenAPI v2 document).
    case raw(status: Int, contentType: String, Data)
    /// A watch stream, and the watch's id to end it by (`nil` for a stream that only
    /// carries an error).
    case watch(WatchRendering, AsyncStream<WatchItem>, id: Int?)
    /// A service-proxy request, resolved to the endpoint the HTTP layer forwards it to.
    case proxy(ServiceProxyTarget)
}

extension APIServer {
    /// Answers one request. Whatever the answer shows — the request's own writes or
    /// anyone else's — is on disk before it is returned.
    func handle(_ request: APIRequest) async -> APIResponse {
        if let storageFailure { return .json(status: 500, APIError.internalError(storageFailure).status) }
        let response: APIResponse
        do {
            response = try route(request)
        } catch let error as APIError {
            response = .json(status: error.code, error.status)
        } catch {
            response = .json(status: 500, APIError.internalError("\(error)").status)
        }
        if case .watch = response { return response }
        await waitUntilDurable(store.resourceVersion)
        if let storageFailure { return .json(status: 500, APIError.internalError(storageFailure).status) }
        return response
    }

    /// Dispatches a parsed route: discovery documents here, resources to ``resourceRequest(_:verb:path:)``.
    private func route(_ request: APIRequest) throws -> APIResponse {
        let route = try RouteParser.parse(method: request.method, path: request.path, query: request.query)
        /// Discovery and OpenAPI documents are read-only; checked once the document is known to exist.
        func requireRead() throws(APIError) {
            guard route.verb == .get else { throw APIError.methodNotAllowed() }
        }
        switch route.target {
        case .version:
            try requireRead()
            return .json(status: 200, Discovery.version)
        case .openAPI(let segments):
            try requireRead()
            return try Discovery.openAPI(segments, registry: registry, accept: request.accept, revision: store.resourceVersion)
        case .coreVersions:
            try requireRead()
            return .json(status: 200, Discovery.coreVersions(serverAddress: serverAddress))
        case .groups:
            try requireRead()
            return .json(status: 200, Discovery.groupList(registry: registry))
        case .group(let group):
            guard let versions = registry.groups.first(where: { $0.name == group })?.versions else { throw APIError.notFoundPath(request.path) }
            try requireRead()
            return .json(status: 200, Discovery.group(name: group, versions: versions))
        case .resources(let group, let version):
            if !group.isEmpty {
                guard let versions = registry.groups.first(where: { $0.name == group })?.versions, versions.contains(version) else {
                    throw APIError.notFoundPath(request.path)
                }
            }
            try requireRead()
            return .json(status: 200, Discovery.resourceList(group: group, version: version, registry: registry))
        case .resource(let path):
            return try resourceRequest(request, verb: route.verb, path: path)
        case .serviceProxy(let proxy):
            if case .unsupported = route.verb { throw APIError.methodNotAllowed() }
            let key = ObjectStore.objectKey(namespace: proxy.namespace, name: (try? ServiceProxy.parseID(proxy.id))?.name ?? "")
            return .proxy(try ServiceProxy.resolve(
                proxy, service: store.object(ResourceRegistry.services.storageKey, key),
                endpoints: store.object(ResourceRegistry.endpoints.storageKey, key)))
        }
    }

    /// A request for a collection, an object or a subresource: resolved against the served
    /// types (`404` for what is not served), then handed to its verb.
    private func resourceRequest(_ request: APIRequest, verb: APIRoute.Verb, path: ResourcePath) throws -> APIResponse {
        guard let type = registry.lookup(group: path.group, version: path.version, plural: path.resource) else {
            throw APIError.notFoundPath(request.path)
        }
        if path.namespace != nil && !type.namespaced { throw APIError.notFoundPath(request.path) }
        var subresource = Subresource.main
        if let name = path.subresource {
            guard name == Subresource.status.rawValue, type.hasStatus else { throw APIError.notFoundPath(request.path) }
            subresource = .status
        }
        if type.namespaced && path.name != nil && path.namespace == nil { throw APIError.notFoundPath(request.path) }

        let options = try RouteParser.options(request.query, for: path, verb: verb)
        let version = path.version
        let format = ResponseFormat(accept: request.accept)
        let manager = options.fieldManager ?? String(request.userAgent.prefix { $0 != "/" }.prefix(128))
        let filter = ObjectFilter(namespace: type.namespaced ? path.namespace : nil, labels: options.labelSelector, fields: options.fieldSelector)

        guard let name = path.name else {
            switch verb {
            case .list:
                return .json(status: 200, try list(type, version: version, filter: filter, options: options, format: format))
            case .watch:
                return try watch(type, version: version, filter: filter, options: options, format: format)
            case .create:
                let body = try request.decodedBody()
                try checkCounts(body, type, version, name: body["metadata"]?["name"]?.stringValue ?? "")
                let created = try create(type: type, version: version, namespace: path.namespace, body: body, manager: manager,
                                         dryRun: options.dryRun, fieldValidation: options.fieldValidation)
                return .json(status: 201, present(created, type, version, partial: format == .partialMetadata))
            case .deleteCollection:
                let deleteOptions = try request.deleteOptions()
                var deleted: [JSONValue] = []
                for key in store.objects(of: type.storageKey).keys.sorted() {
                    guard let object = store.object(type.storageKey, key), filter.matches(object) else { continue }
                    let (_, result) = try delete(type: type, old: object, options: deleteOptions, dryRun: options.dryRun)
                    deleted.append(result["kind"]?.stringValue == "Status" ? object : result)
                }
                return .json(status: 200, listDocument(type, version, deleted.map { present($0, type, version) },
                                                       resourceVersion: String(store.resourceVersion), continueToken: nil, remaining: nil))
            default:
                throw APIError.methodNotAllowed()
            }
        }

        if verb == .watch {
            return try watch(type, version: version, filter: filter, options: options, format: format)
        }
        let existing = store.object(type.storageKey, ObjectStore.objectKey(namespace: type.namespaced ? path.namespace : nil, name: name))
        switch verb {
        case .get:
            guard let existing else { throw APIError.notFound(type, name) }
            if format == .table {
                return .json(status: 200, TableRenderer.table(type: type, version: version, objects: [present(existing, type, version)],
                                                              resourceVersion: existing["metadata"]?["resourceVersion"]?.stringValue,
                                                              continueToken: nil, includeObject: options.includeObject))
            }
            return .json(status: 200, present(existing, type, version, partial: format == .partialMetadata))
        case .update:
            let body = try request.decodedBody()
            try checkCounts(body, type, version, name: name)
            if let bodyName = body["metadata"]?["name"]?.stringValue, bodyName != name {
                throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            guard let existing else { throw APIError.notFound(type, name) }
            let (status, result) = try update(type: type, version: version, old: existing, candidate: body, subresource: subresource,
                                              manager: manager, dryRun: options.dryRun, fieldValidation: options.fieldValidation,
                                              isApply: false, requireVersion: true)
            return .json(status: status, present(result, type, version))
        case .patch:
            return try patch(request, type: type, version: version, namespace: path.namespace, name: name, existing: existing,
                             subresource: subresource, manager: manager, options: options)
        case .delete:
            guard let existing else { throw APIError.notFound(type, name) }
            let deleteOptions = try request.deleteOptions()
            let (status, result) = try delete(type: type, old: existing, options: deleteOptions, dryRun: options.dryRun)
            return .json(status: status, result["kind"]?.stringValue == "Status" ? result : present(result, type, version))
        default:
            throw APIError.methodNotAllowed()
        }
    }

    /// PATCH of an object or its status: server-side apply (which may create), or a merge,
    /// strategic merge or JSON patch of the object as served at `version`.
    private func patch(_ request: APIRequest, type: ResourceType, version: String, namespace: String?, name: String, existing: JSONValue?,
                       subresource: Subresource, manager: String, options: RequestOptions) throws -> APIResponse {
        let contentType = request.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let now = timestamp()
        if contentType == "application/apply-patch+yaml" || contentType == "application/apply-patch+cbor" {
            guard let fieldManager = options.fieldManager else {
                throw APIError.badRequest("PATCH, application/apply-patch+yaml requests must set fieldManager")
            }
            var config = try request.decodedBody()
            try checkCounts(config, type, version, name: name)
            try Admission.checkTypeMeta(config, type: type, version: version)
            guard config["apiVersion"] != nil, config["kind"] != nil else {
                throw APIError.badRequest("invalid object type: /, Kind=")
            }
            if let configName = config["metadata"]?["name"]?.stringValue, configName != name {
                throw APIError.badRequest("the name of the object (\(configName)) does not match the name on the URL (\(name))")
            }
            var metadata = config["metadata"]?.objectValue ?? [:]
            metadata["name"] = .string(name)
            metadata["managedFields"] = nil
            config["metadata"] = .object(metadata)
            do {
                if let existing {
                    let applied = try ManagedFields.applyUpgradingClientSideApply(
                        config: config, live: existing, manager: fieldManager, apiVersion: type.apiVersion(version),
                        subresource: subresource.rawValue, force: options.force, time: now, schema: type.schemas[version])
                    let (status, result) = try update(type: type, version: version, old: existing, candidate: applied, subresource: subresource,
                                                      manager: fieldManager, dryRun: options.dryRun, fieldValidation: options.fieldValidation,
                                                      isApply: true, requireVersion: false)
                    return .json(status: status, present(result, type, version))
                }
                guard subresource == .main else { throw APIError.notFound(type, name) }
                var applied = try ManagedFields.apply(config: config, live: nil, manager: fieldManager, apiVersion: type.apiVersion(version),
                                                      subresource: "", force: options.force, time: now, schema: type.schemas[version])
                if type.hasStatus && type.isCustom { applied["status"] = nil }
                let created = try create(type: type, version: version, namespace: namespace, body: applied, manager: fieldManager,
                                         dryRun: options.dryRun, fieldValidation: options.fieldValidation, applyManager: true)
                return .json(status: 201, present(created, type, version))
            } catch let conflict as ApplyConflict {
                let (message, causes) = ManagedFields.conflictMessage(conflict)
                throw APIError(code: 409, reason: "Conflict", message: message, details: APIError.details(type, name: name, causes: causes))
            }
        }
        guard let existing else { throw APIError.notFound(type, name) }
        let patchBody: JSONValue
        do {
            patchBody = try JSONValue(parsing: request.body)
        } catch {
            throw APIError.badRequest("error decoding patch: \(error)")
        }
        var candidate: JSONValue
        let served = present(existing, type, version)
        switch contentType {
        case "application/merge-patch+json":
            candidate = applyMergePatch(served, patchBody)
        case "application/strategic-merge-patch+json":
            if type.isCustom {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            }
            candidate = applyStrategicMergePatch(served, patchBody)
        case "application/json-patch+json":
            do {
                candidate = try applyJSONPatch(served, patchBody)
            } catch {
                throw APIError(code: 422, reason: "Invalid", message: error.message)
            }
        default:
            throw APIError.unsupportedMediaType(contentType)
        }
        if candidate.objectValue == nil { throw APIError.badRequest("the patch did not produce an object") }
        // Before any work proportional to what the patch produced.
        if ObjectSize.exceeds(candidate, self.options.maxObjectBytes) {
            throw APIError.objectTooLarge(limit: self.options.maxObjectBytes, resource: type, name: name)
        }
        try checkCounts(candidate, type, version, name: name)
        let (status, result) = try update(type: type, version: version, old: existing, candidate: candidate, subresource: subresource,
                                          manager: manager, dryRun: options.dryRun, fieldValidation: options.fieldValidation,
                                          isApply: false, requireVersion: false)
        return .json(status: status, present(result, type, version))
    }

    /// Refuses a body whose lists or maps hold more entries than the schema allows before
    /// any work proportional to them (managed fields, merging) is done: what a node with
    /// thousands of edges would otherwise cost the server.
    private func checkCounts(_ body: JSONValue, _ type: ResourceType, _ version: String, name: String) throws(APIError) {
        guard let schema = type.schemas[version] else { return }
        let causes = StructuralSchema.countViolations(body, schema: schema, path: "")
        if !causes.isEmpty { throw APIError.invalid(type, name, causes.map { ($0.field, $0.message, $0.type) }) }
    }

    // MARK: Reading

    /// A list (one page with `limit`) as the client asked for it: objects, a `Table` or metadata only.
    private func list(_ type: ResourceType, version: String, filter: ObjectFilter, options: RequestOptions, format: ResponseFormat) throws(APIError) -> JSONValue {
        let page = try store.list(type.storageKey, filter: filter, from: options.listStart, limit: options.limit)
        let presented = page.items.map { present($0, type, version) }
        let listVersion = String(page.resourceVersion)
        let nextToken = page.next?.encoded
        switch format {
        case .table:
            return TableRenderer.table(type: type, version: version, objects: presented, resourceVersion: listVersion,
                                       continueToken: nextToken, includeObject: options.includeObject)
        case .partialMetadata:
            var doc = listDocument(type, version, presented.map { ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": $0["metadata"] ?? [:]] },
                                   resourceVersion: listVersion, continueToken: nextToken, remaining: page.remainingItemCount)
            doc["kind"] = "PartialObjectMetadataList"
            doc["apiVersion"] = "meta.k8s.io/v1"
            return doc
        case .object:
            return listDocument(type, version, presented, resourceVersion: listVersion, continueToken: nextToken, remaining: page.remainingItemCount)
        }
    }

    private func listDocument(_ type: ResourceType, _ version: String, _ items: [JSONValue], resourceVersion: String, continueToken: String?, remaining: Int?) -> JSONValue {
        var metadata: [String: JSONValue] = ["resourceVersion": .string(resourceVersion)]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        if let remaining { metadata["remainingItemCount"] = .integer(remaining) }
        return ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion(version)), "metadata": .object(metadata), "items": .array(items)]
    }

    private func watch(_ type: ResourceType, version: String, filter: ObjectFilter, options: RequestOptions, format: ResponseFormat) throws -> APIResponse {
        if options.sendInitialEvents && !options.allowWatchBookmarks {
            throw APIError.invalid(type, "", [("allowWatchBookmarks", "Required value: allowWatchBookmarks must be true when sendInitialEvents is set", "FieldValueRequired")])
        }
        let (id, stream) = startWatch(type: type, filter: filter, from: options.watchFrom, bookmarks: options.allowWatchBookmarks,
                                timeout: options.timeoutSeconds.map { Duration.seconds($0) }, sendInitialEvents: options.sendInitialEvents)
        return .watch(WatchRendering(type: type, version: version, table: format == .table, includeObject: options.includeObject), stream, id: id)
    }

    /// The object as served at `version` (or, with `partial`, its `PartialObjectMetadata`).
    func present(_ object: JSONValue, _ type: ResourceType, _ version: String, partial: Bool = false) -> JSONValue {
        var object = object
        object["apiVersion"] = .string(type.apiVersion(version))
        if partial {
            return ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
        }
        return object
    }
}

extension APIRequest {
    /// The body as a JSON value: JSON, YAML, or the protobuf envelope kubectl's typed
    /// commands send (Namespace, ConfigMap, Secret); `400` if it does not decode, `415`
    /// for other binary formats.
    /// The `DeleteOptions` of a delete, if it has a body; a body that is not JSON is a 400.
    func deleteOptions() throws -> JSONValue? {
        guard !body.isEmpty else { return nil }
        do { return try JSONValue(parsing: body) } catch {
            throw APIError.badRequest("error decoding DeleteOptions: \(error)")
        }
    }

    /// For a body larger than `limit` that creates or replaces an object (POST, PUT, apply):
    /// the `422` (or the decoding error) it will get, found before the request reaches the
    /// API server's queue, so a hostile body does not hold up other clients. `nil` if the
    /// object fits or the request is of another kind.
    func oversizedObject(limit: Int) -> APIError? {
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard method == "POST" || method == "PUT" || (method == "PATCH" && mediaType == "application/apply-patch+yaml") else { return nil }
        do {
            return ObjectSize.exceeds(try decodedBody(), limit) ? APIError.objectTooLarge(limit: limit) : nil
        } catch let error as APIError {
            return error
        } catch {
            return APIError.badRequest("\(error)")
        }
    }

    func decodedBody() throws -> JSONValue {
        guard !body.isEmpty else { throw APIError.badRequest("the request body is empty") }
        let mediaType = contentType.lowercased()
        if mediaType.hasPrefix("application/vnd.kubernetes.protobuf") {
            return try KubernetesProtobuf.decode(body)
        }
        if mediaType.contains("protobuf") || mediaType.contains("cbor") {
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml")
        }
        let first = body.first { ![0x20, 0x0a, 0x0d, 0x09].contains($0) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            do { return try JSONValue(parsing: body) } catch {
                throw APIError.badRequest("error decoding JSON body: \(error)")
            }
        }
        let document: JSONValue?
        do {
            document = try YAMLDocuments.parseDocument(String(decoding: body, as: UTF8.self), source: "body")
        } catch {
            throw APIError.badRequest("error decoding YAML body: \(error.message)")
        }
        guard let document else { throw APIError.badRequest("the request body is empty") }
        return document
    }
}
