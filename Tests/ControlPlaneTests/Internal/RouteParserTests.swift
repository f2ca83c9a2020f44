@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("Route parser: method, path and query to a typed route, without a server")
struct RouteParserTests {
    static let nodes = "/apis/tinyflow.dev/v1alpha1/namespaces/ns/tinynodes"

    static func resource(_ group: String, _ version: String, namespace: String? = nil, _ resource: String, name: String? = nil,
                         subresource: String? = nil) -> APIRoute.Target {
        .resource(ResourcePath(group: group, version: version, namespace: namespace, resource: resource, name: name, subresource: subresource))
    }

    @Test("discovery paths kubectl reads are discovery routes", arguments: [
        ("/version", APIRoute.Target.version),
        ("/api", .coreVersions),
        ("/apis", .groups),
        ("/api/v1", .resources(group: "", version: "v1")),
        ("/apis/tinyflow.dev", .group("tinyflow.dev")),
        ("/apis/tinyflow.dev/v1alpha1", .resources(group: "tinyflow.dev", version: "v1alpha1")),
        ("/openapi/v2", .openAPI(["v2"])),
        ("/openapi/v3/apis/tinyflow.dev/v1alpha1", .openAPI(["v3", "apis", "tinyflow.dev", "v1alpha1"])),
        ("//api//v1/", .resources(group: "", version: "v1")),
    ])
    func discovery(path: String, target: APIRoute.Target) throws {
        #expect(try RouteParser.parse(method: "GET", path: path, query: [:]) == APIRoute(target: target, verb: .get))
        #expect(try RouteParser.parse(method: "HEAD", path: path, query: [:]).verb == .get)
        #expect(try RouteParser.parse(method: "POST", path: path, query: [:]).verb == .unsupported(method: "POST"))
    }

    @Test("resource paths name group, version, namespace, resource, name and subresource", arguments: [
        ("/api/v1/namespaces", resource("", "v1", "namespaces")),
        ("/api/v1/namespaces/ns", resource("", "v1", "namespaces", name: "ns")),
        ("/api/v1/namespaces/ns/status", resource("", "v1", "namespaces", name: "ns", subresource: "status")),
        ("/api/v1/namespaces/ns/finalize", resource("", "v1", "namespaces", name: "ns", subresource: "finalize")),
        ("/api/v1/namespaces/ns/configmaps", resource("", "v1", namespace: "ns", "configmaps")),
        ("/api/v1/namespaces/ns/configmaps/x", resource("", "v1", namespace: "ns", "configmaps", name: "x")),
        ("/api/v1/configmaps", resource("", "v1", "configmaps")),
        ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/op", resource("coordination.k8s.io", "v1", namespace: "kube-system", "leases", name: "op")),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tinynodes.tinyflow.dev",
         resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", name: "tinynodes.tinyflow.dev")),
        ("/apis/tinyflow.dev/v1alpha1/tinynodes", resource("tinyflow.dev", "v1alpha1", "tinynodes")),
        (nodes + "/x", resource("tinyflow.dev", "v1alpha1", namespace: "ns", "tinynodes", name: "x")),
        (nodes + "/x/status", resource("tinyflow.dev", "v1alpha1", namespace: "ns", "tinynodes", name: "x", subresource: "status")),
    ])
    func resourcePaths(path: String, target: APIRoute.Target) throws {
        #expect(try RouteParser.parse(method: "GET", path: path, query: [:]).target == target)
    }

    @Test("the method and watch flag make the verb", arguments: [
        ("GET", nodes, [:], APIRoute.Verb.list),
        ("HEAD", nodes, [:], .list),
        ("GET", nodes, ["watch": "true"], .watch),
        ("GET", nodes, ["watch": "1"], .watch),
        ("GET", nodes, ["watch": "false"], .list),
        ("POST", nodes, [:], .create),
        ("DELETE", nodes, [:], .deleteCollection),
        ("PUT", nodes, [:], .unsupported(method: "PUT")),
        ("PATCH", nodes, [:], .unsupported(method: "PATCH")),
        ("GET", nodes + "/x", [:], .get),
        ("GET", nodes + "/x", ["watch": "true"], .watch),
        ("HEAD", nodes + "/x", ["watch": "true"], .get),
        ("GET", nodes + "/x/status", ["watch": "true"], .get),
        ("PUT", nodes + "/x", [:], .update),
        ("PUT", nodes + "/x/status", [:], .update),
        ("PATCH", nodes + "/x/status", [:], .patch),
        ("DELETE", nodes + "/x", [:], .delete),
        ("POST", nodes + "/x", [:], .unsupported(method: "POST")),
    ] as [(String, String, [String: String], APIRoute.Verb)])
    func verbs(method: String, path: String, query: [String: String], verb: APIRoute.Verb) throws {
        #expect(try RouteParser.parse(method: method, path: path, query: query).verb == verb)
    }

    @Test("paths that cannot name anything are 404", arguments: [
        "/", "/healthz", "/version/x", "/api/v2", "/api/v2/namespaces", "/api/v1/namespaces/ns/configmaps/x/status/more",
        "/apis/tinyflow.dev/v1alpha1/namespaces/ns/tinynodes/x/status/y",
    ])
    func notFound(path: String) {
        let error = #expect(throws: APIError.self) { try RouteParser.parse(method: "GET", path: path, query: [:]) }
        #expect(error?.code == 404)
        #expect(error?.reason == "NotFound")
    }

    static func options(_ method: String, _ path: String, _ query: [String: String]) throws -> RequestOptions {
        let route = try RouteParser.parse(method: method, path: path, query: query)
        guard case .resource(let resource) = route.target else {
            Issue.record("not a resource route: \(route)")
            return RequestOptions()
        }
        return try RouteParser.options(query, for: resource, verb: route.verb)
    }

    @Test("a watch's resourceVersion, bookmarks, initial events and timeout are read")
    func watchOptions() throws {
        let options = try Self.options("GET", Self.nodes, ["watch": "1", "resourceVersion": "42", "allowWatchBookmarks": "true",
                                                           "timeoutSeconds": "300"])
        #expect(options.watchFrom == 42)
        #expect(options.allowWatchBookmarks)
        #expect(!options.sendInitialEvents)
        #expect(options.timeoutSeconds == 300)
        // resourceVersion 0 (or none) means "from now, after the current objects".
        #expect(try Self.options("GET", Self.nodes, ["watch": "true", "resourceVersion": "0"]).watchFrom == nil)
        let watchList = try Self.options("GET", Self.nodes, ["watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                                             "resourceVersionMatch": "NotOlderThan"])
        #expect(watchList.sendInitialEvents)
        #expect(watchList.watchFrom == nil)
    }

    @Test("selectors are parsed for lists, watches and deletecollection, and ignored for a get")
    func selectors() throws {
        let query = ["labelSelector": "app=x,tier!=db", "fieldSelector": "metadata.name=a"]
        for (method, path) in [("GET", Self.nodes), ("DELETE", Self.nodes)] {
            let options = try Self.options(method, path, query)
            #expect(options.labelSelector == (try LabelSelector(parsing: "app=x,tier!=db")))
            #expect(options.fieldSelector == (try FieldSelector(parsing: "metadata.name=a")))
        }
        let get = try Self.options("GET", Self.nodes + "/x", ["labelSelector": "app in x"])
        #expect(get.labelSelector == nil)
    }

    @Test("a watch of one object by name is a watch with a field selector on that name")
    func singleObjectWatch() throws {
        let options = try Self.options("GET", Self.nodes + "/x", ["watch": "true", "labelSelector": "app=y", "fieldSelector": "metadata.name=other"])
        #expect(options.fieldSelector == (try FieldSelector(parsing: "metadata.name=x")))
        #expect(options.labelSelector == (try LabelSelector(parsing: "app=y")))
    }

    @Test("a list pages from a continue token, or serves an exact resourceVersion")
    func listStart() throws {
        let token = try #require(ContinueToken(rv: 17, start: "ns/b").encoded)
        let page = try Self.options("GET", Self.nodes, ["limit": "500", "continue": token])
        #expect(page.limit == 500)
        #expect(page.listStart == .page(ContinueToken(rv: 17, start: "ns/b")))
        #expect(try Self.options("GET", Self.nodes, ["resourceVersionMatch": "Exact", "resourceVersion": "7"]).listStart == .exact(7))
        #expect(try Self.options("GET", Self.nodes, ["resourceVersion": "7"]).listStart == .latest)
        #expect(try Self.options("GET", Self.nodes, ["limit": "many"]).limit == 0)
    }

    @Test("write options: dryRun, fieldManager, force, fieldValidation")
    func writeOptions() throws {
        let options = try Self.options("PATCH", Self.nodes + "/x/status", ["dryRun": "All", "fieldManager": "kubectl-client-side-apply",
                                                                           "force": "true", "fieldValidation": "Strict"])
        #expect(options.dryRun)
        #expect(options.fieldManager == "kubectl-client-side-apply")
        #expect(options.force)
        #expect(options.fieldValidation == "Strict")
        let plain = try Self.options("POST", Self.nodes, ["fieldManager": ""])
        #expect(plain == RequestOptions())
        #expect(try Self.options("GET", Self.nodes, ["includeObject": "Object"]).includeObject == "Object")
    }

    @Test("options the server cannot act on are 400 with kube-apiserver's message", arguments: [
        ("POST", nodes, ["dryRun": "Server"], "dryRun: Unsupported value: \"Server\": supported values: \"All\""),
        ("GET", nodes, ["watch": "true", "resourceVersion": "abc"], "resourceVersion: Invalid value: \"abc\": must be a non-negative integer"),
        ("GET", nodes, ["continue": "not a token"], "continue key is not valid: illegal base64 data"),
        ("GET", nodes, ["labelSelector": "app in x"], "unable to parse requirement: found 'x', expected: '('"),
        ("DELETE", nodes, ["fieldSelector": "spec.module=a"], "field label not supported: spec.module"),
    ] as [(String, String, [String: String], String)])
    func invalidOptions(method: String, path: String, query: [String: String], message: String) {
        let error = #expect(throws: APIError.self) { try Self.options(method, path, query) }
        #expect(error?.code == 400)
        #expect(error?.message == message)
    }

    @Test("the Accept header chooses objects, tables or metadata", arguments: [
        ("application/json", ResponseFormat.object),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", .table),
        ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json", .partialMetadata),
        ("application/vnd.kubernetes.protobuf,application/json", .object),
    ])
    func responseFormat(accept: String, format: ResponseFormat) {
        #expect(ResponseFormat(accept: accept) == format)
    }
}
