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
    case watch(WatchRendering, AsyncStream<WatchItem>)
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
        await waitUntilDurable(resourceVersion)
        if let storageFailure { return .json(status: 500, APIError.internalError(storageFailure).status) }
        return response
    }

    private func route(_ request: APIRequest) throws -> APIResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        let isGet = request.method == "GET" || request.method == "HEAD"
        switch segments.first {
        case "version" where segments.count == 1:
            guard isGet else { throw APIError.methodNotAllowed() }
            return .json(status: 200, Discovery.version)
        case "openapi":
            guard isGet else { throw APIError.methodNotAllowed() }
            return try Discovery.openAPI(Array(segments.dropFirst()), registry: registry, accept: request.accept, revision: resourceVersion)
        case "api":
            if segments.count == 1 {
                guard isGet else { throw APIError.methodNotAllowed() }
                return .json(status: 200, Discovery.coreVersions(serverAddress: serverAddress))
            }
            guard segments[1] == "v1" else { throw APIError.notFoundPath(request.path) }
            if segments.count == 2 {
                guard isGet else { throw APIError.methodNotAllowed() }
                return .json(status: 200, Discovery.resourceList(group: "", version: "v1", registry: registry))
            }
            return try resourceRequest(request, group: "", version: "v1", rest: Array(segments.dropFirst(2)))
        case "apis":
            if segments.count == 1 {
                guard isGet else { throw APIError.methodNotAllowed() }
                return .json(status: 200, Discovery.groupList(registry: registry))
            }
            let group = segments[1]
            guard let versions = registry.groups.first(where: { $0.name == group })?.versions else { throw APIError.notFoundPath(request.path) }
            if segments.count == 2 {
                guard isGet else { throw APIError.methodNotAllowed() }
                return .json(status: 200, Discovery.group(name: group, versions: versions))
            }
            guard versions.contains(segments[2]) else { throw APIError.notFoundPath(request.path) }
            if segments.count == 3 {
                guard isGet else { throw APIError.methodNotAllowed() }
                return .json(status: 200, Discovery.resourceList(group: group, version: segments[2], registry: registry))
            }
            return try resourceRequest(request, group: group, version: segments[2], rest: Array(segments.dropFirst(3)))
        default:
            throw APIError.notFoundPath(request.path)
        }
    }

    private func resourceRequest(_ request: APIRequest, group: String, version: String, rest: [String]) throws -> APIResponse {
        var namespace: String?
        var parts = rest
        if parts.count >= 3, parts[0] == "namespaces", !(parts.count == 3 && ["status", "finalize"].contains(parts[2])) {
            namespace = parts[1]
            parts = Array(parts.dropFirst(2))
        }
        guard let plural = parts.first, let type = registry.lookup(group: group, version: version, plural: plural) else {
            throw APIError.notFoundPath(request.path)
        }
        if namespace != nil && !type.namespaced { throw APIError.notFoundPath(request.path) }
        let name = parts.count > 1 ? parts[1] : nil
        var subresource = Subresource.main
        if parts.count > 2 {
            guard parts.count == 3, parts[2] == "status", type.hasStatus else {
                throw APIError.notFoundPath(request.path)
            }
            subresource = .status
        }
        if parts.count > 3 { throw APIError.notFoundPath(request.path) }
        if type.namespaced && name != nil && namespace == nil { throw APIError.notFoundPath(request.path) }

        let query = request.query
        let dryRun = query["dryRun"] == "All"
        let fieldValidation = query["fieldValidation"] ?? ""
        let manager = query["fieldManager"].flatMap { $0.isEmpty ? nil : $0 }
            ?? String(request.userAgent.prefix { $0 != "/" }.prefix(128))
        let table = request.accept.contains("as=Table")
        let partial = !table && request.accept.contains("as=PartialObjectMetadata")
        if let dry = query["dryRun"], !dry.isEmpty, dry != "All" {
            throw APIError.badRequest("dryRun: Unsupported value: \"\(dry)\": supported values: \"All\"")
        }

        guard let name else {
            switch request.method {
            case "GET", "HEAD":
                let filter = try objectFilter(type, namespace: namespace, query: query)
                if query["watch"] == "true" || query["watch"] == "1" {
                    return try watch(type, version: version, filter: filter, query: query, table: table)
                }
                return .json(status: 200, try list(type, version: version, filter: filter, query: query, table: table, partial: partial))
            case "POST":
                let body = try decodeBody(request)
                let created = try create(type: type, version: version, namespace: namespace, body: body, manager: manager,
                                         dryRun: dryRun, fieldValidation: fieldValidation)
                return .json(status: 201, present(created, type, version, table: table, partial: partial))
            case "DELETE":
                let filter = try objectFilter(type, namespace: namespace, query: query)
                let options: JSONValue? = request.body.isEmpty ? Optional<JSONValue>.none : try? JSONValue(parsing: request.body)
                var deleted: [JSONValue] = []
                for key in (objects[type.storageKey] ?? [:]).keys.sorted() {
                    guard let object = objects[type.storageKey]?[key], filter.matches(object) else { continue }
                    let (_, result) = try delete(type: type, old: object, options: options, dryRun: dryRun)
                    deleted.append(result["kind"]?.stringValue == "Status" ? object : result)
                }
                return .json(status: 200, listDocument(type, version, deleted.map { present($0, type, version) }, resourceVersion: String(resourceVersion), continueToken: nil, remaining: nil))
            default:
                throw APIError.methodNotAllowed()
            }
        }

        let key = Self.objectKey(namespace: type.namespaced ? namespace : nil, name: name)
        let existing = objects[type.storageKey]?[key]
        if request.method == "GET", subresource == .main, query["watch"] == "true" || query["watch"] == "1" {
            // The old single-object watch form: the same as a fieldSelector on the name.
            var filter = try objectFilter(type, namespace: namespace, query: query)
            filter.fields = try FieldSelector(parsing: "metadata.name=\(name)", kind: type.kind)
            return try watch(type, version: version, filter: filter, query: query, table: table)
        }
        switch request.method {
        case "GET", "HEAD":
            guard let existing else { throw APIError.notFound(type, name) }
            if table {
                return .json(status: 200, TableRenderer.table(type: type, version: version, objects: [present(existing, type, version)],
                                                              resourceVersion: existing["metadata"]?["resourceVersion"]?.stringValue,
                                                              continueToken: nil, includeObject: query["includeObject"] ?? "Metadata"))
            }
            return .json(status: 200, present(existing, type, version, partial: partial))
        case "PUT":
            let body = try decodeBody(request)
            if let bodyName = body["metadata"]?["name"]?.stringValue, bodyName != name {
                throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            guard let existing else { throw APIError.notFound(type, name) }
            let (status, result) = try update(type: type, version: version, old: existing, candidate: body, subresource: subresource,
                                              manager: manager, dryRun: dryRun, fieldValidation: fieldValidation, isApply: false, requireVersion: true)
            return .json(status: status, present(result, type, version, table: table))
        case "PATCH":
            return try patch(request, type: type, version: version, namespace: namespace, name: name, existing: existing,
                             subresource: subresource, manager: manager, dryRun: dryRun, fieldValidation: fieldValidation, table: table)
        case "DELETE":
            guard let existing else { throw APIError.notFound(type, name) }
            let options: JSONValue? = request.body.isEmpty ? Optional<JSONValue>.none : try? JSONValue(parsing: request.body)
            let (status, result) = try delete(type: type, old: existing, options: options, dryRun: dryRun)
            return .json(status: status, result["kind"]?.stringValue == "Status" ? result : present(result, type, version))
        default:
            throw APIError.methodNotAllowed()
        }
    }

    private func patch(_ request: APIRequest, type: ResourceType, version: String, namespace: String?, name: String, existing: JSONValue?,
                       subresource: Subresource, manager: String, dryRun: Bool, fieldValidation: String, table: Bool) throws -> APIResponse {
        let contentType = request.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let now = timestamp()
        if contentType == "application/apply-patch+yaml" || contentType == "application/apply-patch+cbor" {
            guard let fieldManager = request.query["fieldManager"], !fieldManager.isEmpty else {
                throw APIError.badRequest("PATCH, application/apply-patch+yaml requests must set fieldManager")
            }
            var config = try decodeBody(request)
            try checkTypeMeta(type, version, config)
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
            let force = request.query["force"] == "true"
            do {
                if let existing {
                    let applied = try ManagedFields.applyUpgradingClientSideApply(
                        config: config, live: existing, manager: fieldManager, apiVersion: type.apiVersion(version),
                        subresource: subresource.rawValue, force: force, time: now, schema: type.schemas[version])
                    let (status, result) = try update(type: type, version: version, old: existing, candidate: applied, subresource: subresource,
                                                      manager: fieldManager, dryRun: dryRun, fieldValidation: fieldValidation, isApply: true, requireVersion: false)
                    return .json(status: status, present(result, type, version, table: table))
                }
                guard subresource == .main else { throw APIError.notFound(type, name) }
                var applied = try ManagedFields.apply(config: config, live: nil, manager: fieldManager, apiVersion: type.apiVersion(version),
                                                      subresource: "", force: force, time: now, schema: type.schemas[version])
                if type.hasStatus && type.isCustom { applied["status"] = nil }
                let created = try create(type: type, version: version, namespace: namespace, body: applied, manager: fieldManager,
                                         dryRun: dryRun, fieldValidation: fieldValidation, applyManager: true)
                return .json(status: 201, present(created, type, version, table: table))
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
        let (status, result) = try update(type: type, version: version, old: existing, candidate: candidate, subresource: subresource,
                                          manager: manager, dryRun: dryRun, fieldValidation: fieldValidation, isApply: false, requireVersion: false)
        return .json(status: status, present(result, type, version, table: table))
    }

    // MARK: Reading

    private func objectFilter(_ type: ResourceType, namespace: String?, query: [String: String]) throws -> ObjectFilter {
        var filter = ObjectFilter(namespace: type.namespaced ? namespace : nil)
        if let labels = query["labelSelector"], !labels.isEmpty { filter.labels = try LabelSelector(parsing: labels) }
        if let fields = query["fieldSelector"], !fields.isEmpty { filter.fields = try FieldSelector(parsing: fields, kind: type.kind) }
        return filter
    }

    private struct ContinueToken: Codable {
        var rv: Int
        var start: String
    }

    private func list(_ type: ResourceType, version: String, filter: ObjectFilter, query: [String: String], table: Bool, partial: Bool) throws -> JSONValue {
        var listVersion = resourceVersion
        var state = objects[type.storageKey] ?? [:]
        var after: String?
        if let token = query["continue"], !token.isEmpty {
            guard let data = Data(base64Encoded: token), let decoded = try? JSONDecoder().decode(ContinueToken.self, from: data) else {
                throw APIError.badRequest("continue key is not valid: illegal base64 data")
            }
            listVersion = decoded.rv
            state = try snapshot(type, at: decoded.rv)
            after = decoded.start
        } else if query["resourceVersionMatch"] == "Exact", let exact = query["resourceVersion"].flatMap(Int.init) {
            guard exact <= resourceVersion else {
                throw APIError(code: 504, reason: "Timeout", message: "Too large resource version: \(exact), current: \(resourceVersion)",
                               details: ["causes": [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]], "retryAfterSeconds": 1])
            }
            do {
                state = try snapshot(type, at: exact)
            } catch {
                throw APIError.gone("too old resource version: \(exact) (\(historyStart))")
            }
            listVersion = exact
        }
        let limit = query["limit"].flatMap(Int.init) ?? 0
        var items: [JSONValue] = []
        var nextToken: String?
        var remaining: Int?
        let keys = state.keys.sorted()
        var startIndex = keys.startIndex
        if let after { startIndex = keys.firstIndex { $0 > after } ?? keys.endIndex }
        var index = startIndex
        while index < keys.endIndex {
            let key = keys[index]
            index += 1
            guard let object = state[key], filter.matches(object) else { continue }
            items.append(object)
            if limit > 0 && items.count == limit {
                let rest = keys[index...].filter { state[$0].map(filter.matches) ?? false }.count
                if rest > 0 {
                    let token = ContinueToken(rv: listVersion, start: key)
                    nextToken = (try? JSONEncoder().encode(token))?.base64EncodedString()
                    remaining = rest
                }
                break
            }
        }
        let presented = items.map { present($0, type, version) }
        if table {
            return TableRenderer.table(type: type, version: version, objects: presented, resourceVersion: String(listVersion),
                                       continueToken: nextToken, includeObject: query["includeObject"] ?? "Metadata")
        }
        if partial {
            var doc = listDocument(type, version, presented.map { ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": $0["metadata"] ?? [:]] },
                                   resourceVersion: String(listVersion), continueToken: nextToken, remaining: remaining)
            doc["kind"] = "PartialObjectMetadataList"
            doc["apiVersion"] = "meta.k8s.io/v1"
            return doc
        }
        return listDocument(type, version, presented, resourceVersion: String(listVersion), continueToken: nextToken, remaining: remaining)
    }

    private func listDocument(_ type: ResourceType, _ version: String, _ items: [JSONValue], resourceVersion: String, continueToken: String?, remaining: Int?) -> JSONValue {
        var metadata: [String: JSONValue] = ["resourceVersion": .string(resourceVersion)]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        if let remaining { metadata["remainingItemCount"] = .integer(remaining) }
        return ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion(version)), "metadata": .object(metadata), "items": .array(items)]
    }

    private func watch(_ type: ResourceType, version: String, filter: ObjectFilter, query: [String: String], table: Bool) throws -> APIResponse {
        let rv = query["resourceVersion"] ?? ""
        var from: Int?
        if !rv.isEmpty && rv != "0" {
            guard let value = Int(rv) else { throw APIError.badRequest("resourceVersion: Invalid value: \"\(rv)\": must be a non-negative integer") }
            from = value
        }
        let timeout = query["timeoutSeconds"].flatMap(Int.init).map { Duration.seconds($0) }
        let initialEvents = query["sendInitialEvents"] == "true"
        if initialEvents && query["allowWatchBookmarks"] != "true" {
            throw APIError.invalid(type, "", [("allowWatchBookmarks", "Required value: allowWatchBookmarks must be true when sendInitialEvents is set", "FieldValueRequired")])
        }
        let stream = startWatch(type: type, filter: filter, from: from, bookmarks: query["allowWatchBookmarks"] == "true", timeout: timeout,
                                sendInitialEvents: initialEvents)
        return .watch(WatchRendering(type: type, version: version, table: table, includeObject: query["includeObject"] ?? "Metadata"), stream)
    }

    /// The object as served at `version`.
    func present(_ object: JSONValue, _ type: ResourceType, _ version: String, table: Bool = false, partial: Bool = false) -> JSONValue {
        var object = object
        object["apiVersion"] = .string(type.apiVersion(version))
        if partial {
            return ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
        }
        return object
    }

    private func decodeBody(_ request: APIRequest) throws -> JSONValue {
        guard !request.body.isEmpty else { throw APIError.badRequest("the request body is empty") }
        let mediaType = request.contentType.lowercased()
        if mediaType.hasPrefix("application/vnd.kubernetes.protobuf") {
            return try KubernetesProtobuf.decode(request.body)
        }
        if mediaType.contains("protobuf") || mediaType.contains("cbor") {
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml")
        }
        let first = request.body.first { ![0x20, 0x0a, 0x0d, 0x09].contains($0) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            do { return try JSONValue(parsing: request.body) } catch {
                throw APIError.badRequest("error decoding JSON body: \(error)")
            }
        }
        let document: JSONValue?
        do {
            document = try YAMLDocuments.parseDocument(String(decoding: request.body, as: UTF8.self), source: "body")
        } catch {
            throw APIError.badRequest("error decoding YAML body: \(error.message)")
        }
        guard let document else { throw APIError.badRequest("the request body is empty") }
        return document
    }
}
