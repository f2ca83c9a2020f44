@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

/// The service proxy's routing and choice of endpoint, without a server.
@Suite("Service proxy: path to service, port and endpoint, without a server")
struct ServiceProxyResolutionTests {
    static func service(_ ports: JSONValue) -> JSONValue {
        ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"], "spec": ["ports": ports]]
    }

    static func endpoints(_ subsets: JSONValue) -> JSONValue {
        ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": "web"], "subsets": subsets]
    }

    static func proxy(_ id: String, _ path: String = "/x") -> ServiceProxyPath {
        ServiceProxyPath(namespace: "ns", id: id, path: path)
    }

    @Test("proxy paths name the namespace, the service id and the rest of the path, trailing slash kept", arguments: [
        ("/api/v1/namespaces/ns/services/web:debug/proxy", ServiceProxyPath(namespace: "ns", id: "web:debug", path: "/")),
        ("/api/v1/namespaces/ns/services/web:debug/proxy/", ServiceProxyPath(namespace: "ns", id: "web:debug", path: "/")),
        ("/api/v1/namespaces/ns/services/web/proxy/a/b%20c/", ServiceProxyPath(namespace: "ns", id: "web", path: "/a/b%20c/")),
        ("//api/v1/namespaces/ns/services/web/proxy//a", ServiceProxyPath(namespace: "ns", id: "web", path: "//a")),
    ])
    func proxyPaths(path: String, expected: ServiceProxyPath) throws {
        #expect(RouteParser.serviceProxy(path: path) == expected)
        #expect(try RouteParser.parse(method: "GET", path: path, query: [:]) == APIRoute(target: .serviceProxy(expected), verb: .get))
        #expect(try RouteParser.parse(method: "POST", path: path, query: [:]).verb == .create)
        #expect(try RouteParser.parse(method: "OPTIONS", path: path, query: [:]).verb == .unsupported(method: "OPTIONS"))
    }

    @Test("other paths are not proxy paths", arguments: [
        "/api/v1/namespaces/ns/services/web", "/api/v1/namespaces/ns/services/web/status", "/api/v1/namespaces/ns/services/web/proxyx",
        "/api/v1/namespaces/ns/configmaps/web/proxy/x", "/apis/x/v1/namespaces/ns/services/web/proxy", "/api/v1/services/web/proxy/x",
    ])
    func notProxyPaths(path: String) {
        #expect(RouteParser.serviceProxy(path: path) == nil)
    }

    @Test("the port is named, numbered or the only one; the endpoint port matches its name")
    func portSelection() throws {
        let service = Self.service([["name": "http", "port": 80, "targetPort": 8080], ["name": "debug", "port": 81, "targetPort": 9090]])
        let endpoints = Self.endpoints([["addresses": [["ip": "10.0.0.1"], ["ip": "10.0.0.2"]],
                                         "ports": [["name": "http", "port": 8080], ["name": "debug", "port": 9090]]]])
        let byName = try ServiceProxy.resolve(Self.proxy("web:debug"), service: service, endpoints: endpoints)
        #expect(byName == ServiceProxyTarget(namespace: "ns", service: "web", ip: "10.0.0.1", port: 9090, path: "/x"))
        #expect(try ServiceProxy.resolve(Self.proxy("web:80"), service: service, endpoints: endpoints).port == 8080)
        #expect(try ServiceProxy.resolve(Self.proxy("http:web:81"), service: service, endpoints: endpoints).port == 9090)
        #expect(throws: APIError.self) { try ServiceProxy.resolve(Self.proxy("web"), service: service, endpoints: endpoints) }

        let single = Self.service([["name": "debug", "port": 80, "targetPort": 8081]])
        let unnamed = Self.endpoints([["addresses": [["ip": "127.0.0.1"]], "ports": [["port": 8081]]]])
        #expect(try ServiceProxy.resolve(Self.proxy("web"), service: single, endpoints: unnamed).port == 8081)
        // A subset without ports: the service port's targetPort.
        let portless = Self.endpoints([["addresses": [["ip": "127.0.0.1"]]]])
        #expect(try ServiceProxy.resolve(Self.proxy("web:debug"), service: single, endpoints: portless).port == 8081)
    }

    @Test("the first ready address of a subset with the port; not-ready addresses and other ports do not count")
    func endpointSelection() throws {
        let service = Self.service([["name": "debug", "port": 80]])
        let endpoints = Self.endpoints([
            ["notReadyAddresses": [["ip": "10.0.0.9"]], "ports": [["name": "debug", "port": 1]]],
            ["addresses": [["ip": "10.0.0.8"]], "ports": [["name": "metrics", "port": 2], ["name": "other", "port": 5]]],
            ["addresses": [["ip": "fd00::1"]], "ports": [["name": "debug", "port": 3]]],
        ])
        let target = try ServiceProxy.resolve(Self.proxy("web:debug"), service: service, endpoints: endpoints)
        #expect(target.ip == "fd00::1" && target.port == 3)
        #expect(target.url(query: "a=1") == "http://[fd00::1]:3/x?a=1")
        #expect(target.url(query: nil) == "http://[fd00::1]:3/x")
    }

    @Test("errors as kube-apiserver words them: no service 404, no port or endpoint 503, bad id 400")
    func errors() {
        func failure(_ id: String, service: JSONValue?, endpoints: JSONValue?) -> APIError? {
            do {
                _ = try ServiceProxy.resolve(Self.proxy(id), service: service, endpoints: endpoints)
                return nil
            } catch {
                return error
            }
        }
        let service = Self.service([["name": "debug", "port": 80]])
        let missing = failure("web:debug", service: nil, endpoints: nil)
        #expect(missing?.code == 404 && missing?.message == "services \"web\" not found")
        let noEndpoints = failure("web:debug", service: service, endpoints: nil)
        #expect(noEndpoints?.code == 503 && noEndpoints?.message == "no endpoints available for service \"web\"")
        let empty = failure("web:debug", service: service, endpoints: Self.endpoints([]))
        #expect(empty?.code == 503 && empty?.reason == "ServiceUnavailable")
        #expect(failure("web:nope", service: service, endpoints: nil)?.message == "no service port \"nope\" found for service \"web\"")
        #expect(failure("web:81", service: service, endpoints: nil)?.message == "no service port 81 found for service \"web\"")
        for id in [":debug", "a:b:c:d", "ftp:web:debug"] { #expect(failure(id, service: service, endpoints: nil)?.code == 400, "\(id)") }
        #expect(failure("https:web:debug", service: service, endpoints: nil)?.message.contains("plain HTTP") == true)
    }

    @Test("admission defaults a Service port's protocol and targetPort and refuses ports and addresses the proxy cannot use")
    func admission() {
        var service = Self.service([["port": 80]])
        #expect(ServiceProxy.validateService(&service).isEmpty)
        #expect(service["spec"]?["ports"]?[0]?["targetPort"] == 80)
        #expect(service["spec"]?["ports"]?[0]?["protocol"] == "TCP")
        var twoUnnamed = Self.service([["port": 80], ["port": 81, "targetPort": "http"]])
        #expect(ServiceProxy.validateService(&twoUnnamed).map(\.field) == ["spec.ports[0].name", "spec.ports[1].name"])
        var badPorts = Self.service([["name": "a", "port": 0], ["name": "a", "port": 1, "targetPort": 70000]])
        #expect(Set(ServiceProxy.validateService(&badPorts).map(\.field))
                == ["spec.ports[0].port", "spec.ports[1].name", "spec.ports[1].targetPort"])
        let endpoints = Self.endpoints([["addresses": [["ip": "10.0.0.1"], ["ip": "host.example"]], "notReadyAddresses": [["ip": "::1"]],
                                         "ports": [["port": 70000]]]])
        #expect(ServiceProxy.validateEndpoints(endpoints).map(\.field) == ["subsets[0].addresses[1].ip", "subsets[0].ports[0].port"])
    }
}
