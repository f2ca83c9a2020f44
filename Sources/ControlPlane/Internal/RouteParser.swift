import Foundation
import JSONSchemaKit

/// What a request asks for, read from its method and path alone: no registry, no store.
///
/// The counterpart of kube-apiserver's `RequestInfo`: the path says *where* (discovery,
/// or a resource collection, item or subresource with its group, version and namespace),
/// the method (and `watch`) says *which verb*. Whether the group, version, resource or
/// subresource is actually served is the API server's question, answered against its
/// registry afterwards; every path that cannot name anything is `404` already here.
struct APIRoute: Sendable, Equatable {
    /// What the path names.
    enum Target: Sendable, Equatable {
        /// `/version`.
        case version
        /// `/openapi/...`, with the segments below `/openapi`.
        case openAPI([String])
        /// `/api`: the core group's versions.
        case coreVersions
        /// `/apis`: every served group.
        case groups
        /// `/apis/GROUP`.
        case group(String)
        /// `/api/v1` or `/apis/GROUP/VERSION`: the resources of one group version.
        case resources(group: String, version: String)
        /// Anything below a group version: a collection, an object or a subresource.
        case resource(ResourcePath)
        /// `/api/v1/namespaces/NS/services/NAME[:PORT]/proxy[/PATH]`: a request for the service's backend.
        case serviceProxy(ServiceProxyPath)
    }

    /// The Kubernetes verb a method means on its target.
    enum Verb: Sendable, Equatable {
        /// `GET`/`HEAD` of an object, a subresource or a discovery document.
        case get
        /// `GET` of a collection.
        case list
        /// `GET` with `watch=true|1` (of a collection, or of one object by name).
        case watch
        /// `POST` to a collection.
        case create
        /// `PUT` of an object or subresource.
        case update
        /// `PATCH` of an object or subresource (merge, JSON, strategic or apply patch).
        case patch
        /// `DELETE` of an object.
        case delete
        /// `DELETE` of a collection.
        case deleteCollection
        /// A method its target does not support: `405` once the target is known to exist.
        case unsupported(method: String)
    }

    var target: Target
    var verb: Verb
}

/// Where below a group version a request points.
struct ResourcePath: Sendable, Equatable {
    /// The API group; empty for the core group (`/api/v1`).
    var group: String
    var version: String
    /// The namespace of `/namespaces/NS/...` paths; nil for cluster-wide paths.
    var namespace: String?
    /// The resource (plural), e.g. `configmaps`.
    var resource: String
    /// The object's name; nil for a collection.
    var name: String?
    /// The subresource after the name, e.g. `status`.
    var subresource: String?
}

/// Where a service-proxy request goes: `/api/v1/namespaces/NS/services/ID/proxy[/PATH]`,
/// with ID `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT` (kube-apiserver's forms).
struct ServiceProxyPath: Sendable, Equatable {
    var namespace: String
    /// The path segment naming the service, e.g. `tinyflow-operator:debug`.
    var id: String
    /// The path below `/proxy`, as sent (still percent-encoded); `/` when there is none.
    var path: String
}

/// The subresources a write can address.
enum Subresource: String, Sendable {
    case main = ""
    case status
}

/// How the client wants objects rendered, from its `Accept` header.
enum ResponseFormat: Sendable, Equatable {
    /// The object itself (`application/json`, YAML, …).
    case object
    /// A `meta.k8s.io/v1` `Table` (`kubectl get`).
    case table
    /// `PartialObjectMetadata(List)`: metadata only.
    case partialMetadata

    init(accept: String) {
        if accept.contains("as=Table") {
            self = .table
        } else if accept.contains("as=PartialObjectMetadata") {
            self = .partialMetadata
        } else {
            self = .object
        }
    }
}

/// The query parameters of a resource request that the API server acts on, parsed and
/// checked for the verb at hand (a selector on a single `get` is ignored, as before).
struct RequestOptions: Sendable, Equatable {
    /// Where a list starts.
    enum ListStart: Sendable, Equatable {
        /// The latest state (no `continue`, no exact resourceVersion).
        case latest
        /// The next page of an earlier list, at that list's resourceVersion.
        case page(ContinueToken)
        /// `resourceVersionMatch=Exact&resourceVersion=N`: the state at `N`.
        case exact(Int)
    }

    /// `dryRun=All`: validate and answer, store nothing.
    var dryRun = false
    /// `fieldManager`, nil when absent or empty (the user agent is the default manager).
    var fieldManager: String?
    /// `fieldValidation` (`Strict` refuses unknown fields; anything else prunes them).
    var fieldValidation = ""
    /// `force=true`: server-side apply takes fields other managers own.
    var force = false
    /// `labelSelector`, for lists, watches and deletecollection.
    var labelSelector: LabelSelector?
    /// `fieldSelector` (for a watch of one object by name: that name).
    var fieldSelector: FieldSelector?
    /// `limit`; 0 for no limit.
    var limit = 0
    var listStart = ListStart.latest
    /// The resourceVersion a watch starts after; nil for "now, after the current objects as `ADDED`".
    var watchFrom: Int?
    var allowWatchBookmarks = false
    var sendInitialEvents = false
    var timeoutSeconds: Int?
    /// `includeObject` of `Table` answers: `None`, `Metadata` or `Object`.
    var includeObject = "Metadata"
}

/// The continue token of a paginated list: the list's resourceVersion and the key of
/// the last object sent (base64 of its JSON, opaque to clients).
struct ContinueToken: Codable, Sendable, Equatable {
    var rv: Int
    var start: String

    init(rv: Int, start: String) {
        self.rv = rv
        self.start = start
    }

    init(parsing token: String) throws(APIError) {
        guard let data = Data(base64Encoded: token), let decoded = try? JSONDecoder().decode(Self.self, from: data) else {
            throw APIError.badRequest("continue key is not valid: illegal base64 data")
        }
        self = decoded
    }

    /// The token as sent to clients.
    var encoded: String? { (try? JSONEncoder().encode(self))?.base64EncodedString() }
}

/// Turns a request's method, path and query into an ``APIRoute`` and its
/// ``RequestOptions``; pure functions, tested without a server.
///
/// The two steps are separate because a real API server resolves the resource before it
/// looks at the query: a bad selector on a resource that is not served is still `404`.
enum RouteParser {
    /// The route of a request; throws `404` for a path that names nothing the API serves.
    static func parse(method: String, path: String, query: [String: String]) throws(APIError) -> APIRoute {
        if let proxy = serviceProxy(path: path) {
            let verb: APIRoute.Verb = switch method {
            case "GET", "HEAD": .get
            case "POST": .create
            case "PUT": .update
            case "PATCH": .patch
            case "DELETE": .delete
            default: .unsupported(method: method)
            }
            return APIRoute(target: .serviceProxy(proxy), verb: verb)
        }
        let segments = path.split(separator: "/").map(String.init)
        let readVerb: APIRoute.Verb = method == "GET" || method == "HEAD" ? .get : .unsupported(method: method)
        switch segments.first {
        case "version" where segments.count == 1:
            return APIRoute(target: .version, verb: readVerb)
        case "openapi":
            return APIRoute(target: .openAPI(Array(segments.dropFirst())), verb: readVerb)
        case "api":
            if segments.count == 1 { return APIRoute(target: .coreVersions, verb: readVerb) }
            guard segments[1] == "v1" else { throw APIError.notFoundPath(path) }
            if segments.count == 2 { return APIRoute(target: .resources(group: "", version: "v1"), verb: readVerb) }
            return try resourceRoute(method: method, path: path, group: "", version: "v1", rest: segments.dropFirst(2), query: query)
        case "apis":
            switch segments.count {
            case 1: return APIRoute(target: .groups, verb: readVerb)
            case 2: return APIRoute(target: .group(segments[1]), verb: readVerb)
            case 3: return APIRoute(target: .resources(group: segments[1], version: segments[2]), verb: readVerb)
            default:
                return try resourceRoute(method: method, path: path, group: segments[1], version: segments[2],
                                         rest: segments.dropFirst(3), query: query)
            }
        default:
            throw APIError.notFoundPath(path)
        }
    }

    /// `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]` below a group version. The namespace's
    /// own subresources (`namespaces/NS/status`, `namespaces/NS/finalize`) are not a namespace scope.
    private static func resourceRoute(method: String, path: String, group: String, version: String,
                                      rest: ArraySlice<String>, query: [String: String]) throws(APIError) -> APIRoute {
        var parts = rest
        var namespace: String?
        if parts.count >= 3, parts[parts.startIndex] == "namespaces",
           !(parts.count == 3 && ["status", "finalize"].contains(parts[parts.startIndex + 2])) {
            namespace = parts[parts.startIndex + 1]
            parts = parts.dropFirst(2)
        }
        guard let resource = parts.first, parts.count <= 3 else { throw APIError.notFoundPath(path) }
        let name = parts.count > 1 ? parts[parts.startIndex + 1] : nil
        let subresource = parts.count > 2 ? parts[parts.startIndex + 2] : nil
        let watch = isWatch(query)
        let verb: APIRoute.Verb
        if name == nil {
            switch method {
            case "GET", "HEAD": verb = watch ? .watch : .list
            case "POST": verb = .create
            case "DELETE": verb = .deleteCollection
            default: verb = .unsupported(method: method)
            }
        } else {
            switch method {
            // The old single-object watch form (`…/NAME?watch=true`); HEAD never watches.
            case "GET": verb = watch && subresource == nil ? .watch : .get
            case "HEAD": verb = .get
            case "PUT": verb = .update
            case "PATCH": verb = .patch
            case "DELETE": verb = .delete
            default: verb = .unsupported(method: method)
            }
        }
        let target = ResourcePath(group: group, version: version, namespace: namespace, resource: resource,
                                  name: name, subresource: subresource)
        return APIRoute(target: .resource(target), verb: verb)
    }

    /// The service-proxy request `path` names, or nil if it names something else. Its
    /// first seven segments are `api/v1/namespaces/NS/services/ID/proxy`; whatever follows
    /// (trailing slash included) is the path sent to the backend.
    static func serviceProxy(path: String) -> ServiceProxyPath? {
        var segments: [Substring] = []
        var rest = Substring(path)
        while segments.count < 7 {
            rest = rest.drop { $0 == "/" }
            guard !rest.isEmpty else { break }
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            segments.append(rest[..<end])
            rest = rest[end...]
        }
        guard segments.count == 7, segments[0] == "api", segments[1] == "v1", segments[2] == "namespaces",
              segments[4] == "services", segments[6] == "proxy" else { return nil }
        return ServiceProxyPath(namespace: String(segments[3]), id: String(segments[5]), path: rest.isEmpty ? "/" : String(rest))
    }

    static func isWatch(_ query: [String: String]) -> Bool {
        query["watch"] == "true" || query["watch"] == "1"
    }

    /// The options of a resource request, parsed for `verb`; `400` for a value the server
    /// cannot act on. Checked in the order kube-apiserver reports them: `dryRun`, selectors,
    /// then the verb's own parameters.
    static func options(_ query: [String: String], for path: ResourcePath, verb: APIRoute.Verb) throws(APIError) -> RequestOptions {
        var options = RequestOptions()
        if let dryRun = query["dryRun"], !dryRun.isEmpty {
            guard dryRun == "All" else {
                throw APIError.badRequest("dryRun: Unsupported value: \"\(dryRun)\": supported values: \"All\"")
            }
            options.dryRun = true
        }
        options.fieldValidation = query["fieldValidation"] ?? ""
        options.fieldManager = query["fieldManager"].flatMap { $0.isEmpty ? nil : $0 }
        options.force = query["force"] == "true"
        options.includeObject = query["includeObject"] ?? "Metadata"
        switch verb {
        case .list, .watch, .deleteCollection:
            if let labels = query["labelSelector"], !labels.isEmpty { options.labelSelector = try LabelSelector(parsing: labels) }
            if let fields = query["fieldSelector"], !fields.isEmpty { options.fieldSelector = try FieldSelector(parsing: fields) }
            if verb == .watch, let name = path.name {
                // A watch of one object is a watch of its collection with a selector on the name.
                options.fieldSelector = try FieldSelector(parsing: "metadata.name=\(name)")
            }
        default:
            break
        }
        switch verb {
        case .watch:
            let from = query["resourceVersion"] ?? ""
            if !from.isEmpty && from != "0" {
                guard let value = Int(from) else {
                    throw APIError.badRequest("resourceVersion: Invalid value: \"\(from)\": must be a non-negative integer")
                }
                options.watchFrom = value
            }
            options.allowWatchBookmarks = query["allowWatchBookmarks"] == "true"
            options.sendInitialEvents = query["sendInitialEvents"] == "true"
            options.timeoutSeconds = query["timeoutSeconds"].flatMap(Int.init)
        case .list:
            options.limit = query["limit"].flatMap(Int.init) ?? 0
            if let token = query["continue"], !token.isEmpty {
                options.listStart = .page(try ContinueToken(parsing: token))
            } else if query["resourceVersionMatch"] == "Exact", let exact = query["resourceVersion"].flatMap(Int.init) {
                options.listStart = .exact(exact)
            }
        default:
            break
        }
        return options
    }
}
