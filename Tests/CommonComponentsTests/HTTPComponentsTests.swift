import AsyncHTTPClient
import CommonComponents
import ComponentKit
import Foundation
import ModuleHost
import NIOCore
import NIOHTTP1
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("HTTP components", .timeLimit(.minutes(2)), .serialized)
struct HTTPComponentsTests {
    let common = CommonModule.definition

    /// Sends a request until the server answers (it starts asynchronously).
    func call(_ url: String, method: String = "POST", body: String = "", deadline: Duration = .seconds(10)) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        request.body = .bytes(ByteBuffer(string: body))
        request.headers.add(name: "content-type", value: "application/json")
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while true {
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: bytes))
            } catch where clock.now < end {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test("http-server → transform → http-response echoes the request through the flow")
    func echo() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("server", "http-server", settings: ["port": .integer(port), "timeout": 2000], edges: [edge("request", to: "shape:in")]),
                definition("shape", "transform", settings: ["template": ["status": 201, "body": ["echo": "{{ $.payload.body }}", "path": "{{ $.payload.path }}"]]],
                           edges: [edge("out", to: "respond:in")]),
                definition("respond", "http-response", settings: ["headers": ["x-flow": "echo"]]),
            ]))
            #expect(result.nodes.allSatisfy { $0.phase == .running })
            let (status, body) = try await call("http://127.0.0.1:\(port)/hello?x=1", body: #"{"msg":"hi"}"#)
            #expect(status == 201)
            #expect(try JSONValue(parsing: Data(body.utf8)) == ["echo": ["msg": "hi"], "path": "/hello"])
        }
    }

    @Test("a flow that never answers gives 504 at the server's timeout")
    func timeout() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("server", "http-server", settings: ["port": .integer(port), "timeout": 200], edges: [edge("request", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            let (status, body) = try await call("http://127.0.0.1:\(port)/")
            #expect(status == 504)
            #expect(body.contains("did not answer within 200 ms"))
        }
    }

    @Test("http-request calls a server and emits its response")
    func client() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("server", "http-server", settings: ["port": .integer(port)], edges: [edge("request", to: "answer:in")]),
                definition("answer", "transform", settings: ["template": ["body": "{{ $.payload.method }} {{ $.payload.path }}"]], edges: [edge("out", to: "respond:in")]),
                definition("respond", "http-response"),
                definition("client", "http-request", edges: [edge("response", to: "sink:in"), edge("error", to: "errors:in")]),
                definition("sink", "debug", settings: ["log": false]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            _ = try await call("http://127.0.0.1:\(port)/ready", method: "GET")
            try await runtime.deliver(Message(
                to: PortAddress(node: "client", port: "in"),
                payload: ["url": .string("http://127.0.0.1:\(port)/things"), "method": "PUT", "body": ["a": 1]]))
            try await eventually("the response") { await !runtime.debugMessages("sink").isEmpty }
            let response = try #require(await runtime.debugMessages("sink").first?.payload)
            #expect(response["status"] == 200)
            #expect(response["body"] == "PUT /things")
            #expect(response["headers"]?["content-type"] == "text/plain; charset=utf-8")

            // The message deadline bounds the request (the client keeps retrying a refused connection until then).
            try await runtime.deliver(Message(
                to: PortAddress(node: "client", port: "in"), payload: ["url": "http://127.0.0.1:1/nothing"],
                deadline: Date().addingTimeInterval(1)))
            try await eventually("the connection error") { await !runtime.debugMessages("errors").isEmpty }
        }
    }
}
