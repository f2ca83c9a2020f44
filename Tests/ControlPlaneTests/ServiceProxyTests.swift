@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import JSONSchemaKit
import Logging
import NIOCore
import TestSupport
import Testing

/// A plain HTTP backend on loopback for the service proxy to reach:
/// `/echo/**` (any method) answers with what it received, `/big` with `bigBytes` bytes,
/// `/held` only once `release` finishes.
private struct Backend: Sendable {
    var port: Int

    static func run<T: Sendable>(bigBytes: Int = 0, release: AsyncStream<Void>? = nil,
                                 _ body: (Backend) async throws -> T) async throws -> T {
        let router = Router()
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let received = try await request.body.collect(upTo: 1 << 20)
            let document: JSONValue = [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "query": .string(request.uri.query ?? ""),
                "authorization": request.headers[.authorization].map(JSONValue.string) ?? .null,
                "cookie": request.headers[.cookie].map(JSONValue.string) ?? .null,
                "custom": HTTPField.Name("X-Tinyflow-Test").flatMap { request.headers[$0] }.map(JSONValue.string) ?? .null,
                "contentType": request.headers[.contentType].map(JSONValue.string) ?? .null,
                "body": .string(String(buffer: received)),
            ]
            var headers: HTTPFields = [.contentType: "application/json", .setCookie: "backend=1"]
            if let name = HTTPField.Name("X-Backend") { headers[name] = "echo" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document.jsonString)))
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/echo/**", method: method, use: echo)
        }
        router.get("/big") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                     body: .init(byteBuffer: ByteBuffer(repeating: 0x61, count: bigBytes)))
        }
        router.get("/held") { _, _ -> String in
            if let release { for await _ in release {} }
            return "released"
        }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "tinyflow.test.backend")
        logger.logLevel = .warning
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            return try await body(Backend(port: port))
        }
    }
}

/// A Service `name` with one port (`portName`, 80 → `targetPort`) and, unless `endpoints` is
/// false, its Endpoints: 127.0.0.1 ready at `targetPort`.
private func createService(_ client: TestHTTPClient, _ name: String, portName: String = "http", targetPort: Int,
                           endpoints: Bool = true, namespace: String = "default") async throws {
    _ = try await client.create(
        ["apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name)],
         "spec": ["ports": [["name": .string(portName), "port": 80, "targetPort": .integer(targetPort)]]]],
        at: "/api/v1/namespaces/\(namespace)/services")
    guard endpoints else { return }
    _ = try await client.create(
        ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": .string(name)],
         "subsets": [["addresses": [["ip": "127.0.0.1"]], "ports": [["name": .string(portName), "port": .integer(targetPort)]]]]],
        at: "/api/v1/namespaces/\(namespace)/endpoints")
}

private func text(_ response: TestResponse) -> String { "\(response.status): \(String(decoding: response.body, as: UTF8.self))" }

/// The service proxy, `services/NAME[:PORT]/proxy/PATH`, against a real HTTP backend on
/// loopback, and Services and Endpoints as resources.
@Suite("The service proxy", .timeLimit(.minutes(3)))
struct ServiceProxyTests {
    @Test("GET and POST reach the endpoint with path, query and body; the caller's Authorization and cookies stay behind")
    func forwardsRequests() async throws {
        try await withPlane { _, client in
            try await Backend.run { backend in
                try await createService(client, "web", targetPort: backend.port)
                let get = try await client.send(
                    "GET", "/api/v1/namespaces/default/services/web:http/proxy/echo/a%20b/c/?x=1&y=two%20words",
                    headers: ["Cookie": "session=secret", "X-Tinyflow-Test": "kept"])
                #expect(get.status == 200, "\(text(get))")
                #expect(get.json["method"] == "GET")
                #expect(get.json["path"] == "/echo/a%20b/c/")
                #expect(get.json["query"] == "x=1&y=two%20words")
                #expect(get.json["authorization"] == .null, "the control plane's token reached the backend")
                #expect(get.json["cookie"] == .null)
                #expect(get.json["custom"] == "kept")
                #expect(get.headers["x-backend"] == "echo")
                #expect(get.headers["set-cookie"] == nil, "the backend's cookie was passed back")
                #expect(get.headers["content-type"] == "application/json")

                let post = try await client.send("POST", "/api/v1/namespaces/default/services/web:80/proxy/echo/post",
                                                 raw: Data("{\"hello\":1}".utf8), contentType: "application/json")
                #expect(post.status == 200, "\(text(post))")
                #expect(post.json["method"] == "POST")
                #expect(post.json["path"] == "/echo/post")
                #expect(post.json["body"] == "{\"hello\":1}")
                #expect(post.json["contentType"] == "application/json")

                // The only port, named or not, is the default; http: is the same as no scheme.
                for id in ["web", "http:web:http"] {
                    let response = try await client.get("/api/v1/namespaces/default/services/\(id)/proxy/echo/x")
                    #expect(response.status == 200, "\(id): \(text(response))")
                    #expect(response.json["path"] == "/echo/x")
                }
                let put = try await client.send("PUT", "/api/v1/namespaces/default/services/web/proxy/echo/p", raw: Data("x".utf8),
                                                contentType: "text/plain")
                #expect(put.json["method"] == "PUT" && put.json["body"] == "x", "\(text(put))")
                let delete = try await client.send("DELETE", "/api/v1/namespaces/default/services/web/proxy/echo/d")
                #expect(delete.json["method"] == "DELETE", "\(text(delete))")
                // `watch=true` in the query is the backend's parameter, not a watch of the control plane.
                let watchQuery = try await client.get("/api/v1/namespaces/default/services/web/proxy/echo/w?watch=true")
                #expect(watchQuery.json["query"] == "watch=true", "\(text(watchQuery))")
            }
        }
    }

    @Test("a Service without Endpoints, or without a ready address, answers 503 as kube-apiserver does")
    func noEndpoints() async throws {
        try await withPlane { _, client in
            try await createService(client, "lonely", targetPort: 9, endpoints: false)
            let none = try await client.get("/api/v1/namespaces/default/services/lonely:http/proxy/anything")
            #expect(none.status == 503, "\(text(none))")
            #expect(none.json["reason"] == "ServiceUnavailable")
            #expect(none.json["message"] == "no endpoints available for service \"lonely\"")

            _ = try await client.create(
                ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": "lonely"],
                 "subsets": [["notReadyAddresses": [["ip": "127.0.0.1"]], "ports": [["name": "http", "port": 9]]]]],
                at: "/api/v1/namespaces/default/endpoints")
            let notReady = try await client.get("/api/v1/namespaces/default/services/lonely:http/proxy/anything")
            #expect(notReady.status == 503, "\(text(notReady))")
            #expect(notReady.json["message"] == "no endpoints available for service \"lonely\"")
        }
    }

    @Test("an unknown Service is 404 NotFound; an unknown port 503; https: and a bad id 400; OPTIONS 405")
    func unknownServiceAndPort() async throws {
        try await withPlane { _, client in
            let missing = try await client.get("/api/v1/namespaces/default/services/nope:http/proxy/")
            #expect(missing.status == 404, "\(text(missing))")
            #expect(missing.json["reason"] == "NotFound")
            #expect(missing.json["message"] == "services \"nope\" not found")
            let otherNamespace = try await client.get("/api/v1/namespaces/elsewhere/services/nope/proxy")
            #expect(otherNamespace.status == 404)

            try await createService(client, "web", targetPort: 9)
            let byName = try await client.get("/api/v1/namespaces/default/services/web:metrics/proxy/")
            #expect(byName.status == 503, "\(text(byName))")
            #expect(byName.json["message"] == "no service port \"metrics\" found for service \"web\"")
            let byNumber = try await client.get("/api/v1/namespaces/default/services/web:8080/proxy/")
            #expect(byNumber.status == 503)
            #expect(byNumber.json["message"] == "no service port 8080 found for service \"web\"")

            let https = try await client.get("/api/v1/namespaces/default/services/https:web:http/proxy/")
            #expect(https.status == 400, "\(text(https))")
            #expect(https.json["message"]?.stringValue?.contains("plain HTTP") == true)
            #expect(try await client.get("/api/v1/namespaces/default/services/a:b:c:d/proxy/").status == 400)
            #expect(try await client.send("OPTIONS", "/api/v1/namespaces/default/services/web/proxy/").status == 405)
        }
    }

    @Test("an endpoint that refuses connections is 503; a response over the limit 502; a backend past the timeout 504")
    func boundsAndFailures() async throws {
        let limit = 64 * 1024
        try await withPlane(configure: {
            $0.limits.maxProxyResponseBytes = limit
            $0.limits.requestTimeout = .seconds(2)
        }) { _, client in
            let (release, releaseSink) = AsyncStream<Void>.makeStream()
            defer { releaseSink.finish() }
            try await Backend.run(bigBytes: limit + 1, release: release) { backend in
                try await createService(client, "web", targetPort: backend.port)
                let big = try await client.get("/api/v1/namespaces/default/services/web/proxy/big")
                #expect(big.status == 502, "\(text(big))")
                #expect(big.json["reason"] == "BadGateway")
                #expect(big.json["message"]?.stringValue?.contains("larger than \(limit) bytes (64 KiB)") == true, "\(text(big))")

                let held = try await client.get("/api/v1/namespaces/default/services/web/proxy/held")
                #expect(held.status == 504, "\(text(held))")
                #expect(held.json["reason"] == "Timeout")
            }
            // Nothing listens there any more.
            let closed = try freePort()
            try await createService(client, "gone", targetPort: closed)
            let refused = try await client.get("/api/v1/namespaces/default/services/gone/proxy/")
            #expect(refused.status == 503, "\(text(refused))")
            #expect(refused.json["message"]?.stringValue?.hasPrefix("error trying to reach service \"default/gone\"") == true)
        }
    }

    @Test("Services and Endpoints are served like ConfigMaps: list, watch, patch, table, discovery with services/proxy")
    func resources() async throws {
        try await withPlane { _, client in
            try await createService(client, "web", targetPort: 8081)
            let service = try await client.get("/api/v1/namespaces/default/services/web").json
            #expect(service["spec"]?["ports"]?[0]?["protocol"] == "TCP")
            let list = try await client.get("/api/v1/namespaces/default/endpoints").json
            #expect(list["kind"] == "EndpointsList")
            #expect(list["items"]?[0]?["subsets"]?[0]?["ports"]?[0]?["port"] == 8081)
            let table = try await client.send("GET", "/api/v1/namespaces/default/services",
                                              headers: ["Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"]).json
            #expect(table["kind"] == "Table")
            #expect(table["rows"]?[0]?["cells"]?[0] == "web")
            let patched = try await client.send(
                "PATCH", "/api/v1/namespaces/default/endpoints/web",
                json: ["subsets": [["addresses": [["ip": "::1"]], "ports": [["name": "http", "port": 8082]]]]],
                contentType: "application/merge-patch+json")
            #expect(patched.status == 200, "\(text(patched))")

            let discovery = try await client.get("/api/v1").json
            let resources = discovery["resources"]?.arrayValue ?? []
            let names = resources.compactMap { $0["name"]?.stringValue }
            #expect(names.contains("services") && names.contains("endpoints") && names.contains("services/proxy"), "\(names)")
            let proxy = resources.first { $0["name"] == "services/proxy" }
            #expect(proxy?["kind"] == "ServiceProxyOptions")
            #expect(proxy?["verbs"] == ["create", "delete", "get", "patch", "update"])
            #expect(resources.first { $0["name"] == "services" }?["shortNames"] == ["svc"])
            #expect(resources.first { $0["name"] == "endpoints" }?["shortNames"] == ["ep"])

            let badPort = try await client.send(
                "POST", "/api/v1/namespaces/default/services",
                json: ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "bad"], "spec": ["ports": [["port": 70000]]]])
            #expect(badPort.status == 422, "\(text(badPort))")
            let badAddress = try await client.send(
                "POST", "/api/v1/namespaces/default/endpoints",
                json: ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": "bad"],
                       "subsets": [["addresses": [["ip": "example.com"]]]]])
            #expect(badAddress.status == 422, "\(text(badAddress))")
            #expect(badAddress.json["message"]?.stringValue?.contains("subsets[0].addresses[0].ip") == true)
        }
    }

    @Test("a request without the control plane's token is refused before it reaches the endpoint")
    func authenticationFirst() async throws {
        try await withPlane { plane, client in
            try await Backend.run { backend in
                try await createService(client, "web", targetPort: backend.port)
                let anonymous = TestHTTPClient(baseURL: plane.baseURL, token: nil)
                let refused = try await anonymous.get("/api/v1/namespaces/default/services/web/proxy/echo/x")
                #expect(refused.status == 401)
                let wrong = TestHTTPClient(baseURL: plane.baseURL, token: "not-the-token")
                #expect(try await wrong.get("/api/v1/namespaces/default/services/web/proxy/echo/x").status == 401)
            }
        }
    }

    @Test("kubectl get --raw reads through the service proxy; kubectl api-resources lists services and endpoints",
          .enabled(if: Kubectl.available || ProcessInfo.processInfo.environment["TINYFLOW_REQUIRE_KUBECTL"] == "1"))
    func kubectlRaw() async throws {
        let binary = try #require(Kubectl.binaries.last, "no kubectl found (PATH or TINYFLOW_KUBECTL), and TINYFLOW_REQUIRE_KUBECTL=1")
        try await withTemporaryDirectory { directory in
            let kubeconfig = directory.appendingPathComponent("kubeconfig").path
            try await EmbeddedControlPlane.withRunning(dataDirectory: directory.appendingPathComponent("data")) {
                $0.tls = true
                $0.kubeconfigPath = kubeconfig
            } _: { plane in
                try await Backend.run { backend in
                    let kubectl = KubectlRunner(binary: binary, kubeconfig: kubeconfig, home: directory.path)
                    let manifest = directory.appendingPathComponent("web.yaml")
                    try """
                    apiVersion: v1
                    kind: Service
                    metadata:
                      name: web
                    spec:
                      ports:
                      - name: debug
                        port: 80
                        targetPort: \(backend.port)
                    ---
                    apiVersion: v1
                    kind: Endpoints
                    metadata:
                      name: web
                    subsets:
                    - addresses:
                      - ip: 127.0.0.1
                      ports:
                      - name: debug
                        port: \(backend.port)
                    """.write(to: manifest, atomically: true, encoding: .utf8)
                    let applied = try await kubectl.run(["apply", "-f", manifest.path])
                    #expect(applied.status == 0, "\(applied.output)")
                    let raw = try await kubectl.run(["get", "--raw", "/api/v1/namespaces/default/services/web:debug/proxy/echo/raw?n=1"])
                    #expect(raw.status == 0, "\(raw.output)")
                    let echoed = try JSONValue(parsing: Data(raw.stdout.utf8))
                    #expect(echoed["path"] == "/echo/raw")
                    // kubectl adds its --request-timeout as `timeout=20s`; both reach the backend.
                    #expect(echoed["query"]?.stringValue?.hasPrefix("n=1") == true, "\(echoed)")
                    #expect(echoed["authorization"] == .null)
                    let missing = try await kubectl.run(["get", "--raw", "/api/v1/namespaces/default/services/nope:debug/proxy/"])
                    #expect(missing.status != 0)
                    #expect(missing.stderr.contains("services \"nope\" not found"), "\(missing.output)")
                    let resources = try await kubectl.run(["api-resources", "--api-group="])
                    #expect(resources.status == 0, "\(resources.output)")
                    #expect(resources.stdout.contains("services") && resources.stdout.contains("svc"), "\(resources.output)")
                    #expect(resources.stdout.contains("endpoints") && resources.stdout.contains("ep"), "\(resources.output)")
                    let get = try await kubectl.run(["get", "svc,ep"])
                    #expect(get.status == 0 && get.stdout.contains("web"), "\(get.output)")
                    _ = plane
                }
            }
        }
    }
}
