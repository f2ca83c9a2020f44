import AsyncHTTPClient
import CommonComponents
import ComponentKit
import Foundation
import ModuleHost
import ModuleHostTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// What an `http-server` node does with clients that try to exhaust it: each resource a
/// client can hold is bounded and freed, and clients that behave are served meanwhile.
@Suite("http-server limits", .timeLimit(.minutes(2)), .serialized)
struct HTTPServerLimitsTests {
    let common = CommonModule.definition

    /// A flow answering every request with 200 `ok` on `port`, with `limits` as settings.
    func answeringFlow(_ name: String, port: Int, limits: [String: JSONValue] = [:]) -> [NodeDefinition] {
        var settings: [String: JSONValue] = ["port": .integer(port), "timeout": 5000]
        settings.merge(limits) { _, given in given }
        return [
            definition(name, "http-server", settings: .object(settings), edges: [edge("request", to: "\(name)-answer:in")]),
            definition("\(name)-answer", "transform", settings: ["template": ["body": "ok"]], edges: [edge("out", to: "\(name)-respond:in")]),
            definition("\(name)-respond", "http-response"),
        ]
    }

    /// The status of a GET to `port` and how long it took; retried while the server starts.
    func timedGet(port: Int) async throws -> (Int, Duration) {
        let end = ContinuousClock.now + .seconds(10)
        while true {
            let start = ContinuousClock.now
            do {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(5))
                _ = try await response.body.collect(upTo: 1 << 16)
                return (Int(response.status.code), start.duration(to: .now))
            } catch where ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test("3,000 half-sent requests: a normal request still answers within 100 ms, and they are closed at the header timeout")
    func halfSentRequests() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: answeringFlow("web", port: port, limits: ["headerTimeout": 1500])))
            _ = try await timedGet(port: port)
            let clients = RawClients()
            for _ in 0..<3000 {
                try await clients.open(port: port, sending: "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            }
            let (status, took) = try await timedGet(port: port)
            #expect(status == 200)
            #expect(took < .milliseconds(100), "a normal request took \(took)")
            try await eventually("the half-sent requests to be closed", timeout: .seconds(20), context: { "\(clients.closed) of 3000 closed" }) {
                clients.closed == 3000
            }
        }
    }

    @Test("20,000 connections: beyond the cap they are refused as accepted, the idle ones are closed at the idle timeout, and the host keeps serving")
    func idleConnections() async throws {
        let port = try freePort()
        let otherPort = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes:
                answeringFlow("web", port: port, limits: ["maxConnections": 1000, "idleTimeout": 10_000, "headerTimeout": 60_000])
                + answeringFlow("other", port: otherPort)))
            _ = try await timedGet(port: port)
            _ = try await timedGet(port: otherPort)
            let clients = RawClients()
            var peakHeld = 0
            // In batches smaller than the listen backlog (1,024): connections beyond a full
            // backlog would be half-open on the client's side only, which is not what is tested.
            for _ in 0..<40 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<500 { group.addTask { try await clients.open(port: port, sending: nil) } }
                    try await group.waitForAll()
                }
                try await eventually("refused connections to be closed", context: { "\(clients.opened - clients.closed) open" }) {
                    clients.opened - clients.closed <= 1000
                }
                peakHeld = max(peakHeld, clients.opened - clients.closed)
            }
            #expect(clients.opened == 20_000)
            // The cap was reached (the idle timeout closes the first ones while the flood goes on).
            #expect(peakHeld >= 900, "at most \(peakHeld) connections were held")
            // The node's other server, in the same process, answers at once.
            let (status, took) = try await timedGet(port: otherPort)
            #expect(status == 200)
            #expect(took < .milliseconds(100), "a request to the other server took \(took)")
            // The idle connections are closed at the idle timeout; then the server answers again.
            try await eventually("the idle connections to be closed", timeout: .seconds(20), context: { "\(clients.opened - clients.closed) open" }) {
                clients.closed == clients.opened
            }
            let (again, againTook) = try await timedGet(port: port)
            #expect(again == 200)
            #expect(againTook < .milliseconds(100), "a request after the flood took \(againTook)")
        }
    }

    @Test("a body trickled slower than the body timeout loses its connection; a request sent in time is answered")
    func slowBody() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: answeringFlow("web", port: port, limits: ["bodyTimeout": 500])))
            _ = try await timedGet(port: port)
            let clients = RawClients()
            for _ in 0..<50 {
                try await clients.open(port: port, sending: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
            }
            try await eventually("the trickling clients to be disconnected", context: { "\(clients.closed) of 50 closed" }) {
                clients.closed == 50
            }
            let (status, _) = try await timedGet(port: port)
            #expect(status == 200)
        }
    }

    @Test("requests beyond maxConcurrentRequests get 503 with Retry-After; the others are answered")
    func concurrentRequests() async throws {
        let port = try freePort()
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("web", "http-server", settings: ["port": .integer(port), "timeout": 5000, "maxConcurrentRequests": 5],
                           edges: [edge("request", to: "slow:in")]),
                definition("slow", "delay", settings: ["delay": 500], edges: [edge("out", to: "answer:in")]),
                definition("answer", "transform", settings: ["template": ["body": "ok"]], edges: [edge("out", to: "respond:in")]),
                definition("respond", "http-response"),
            ]))
            _ = try await timedGet(port: port)
            let responses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(10))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        return (Int(response.status.code), response.headers.first(name: "retry-after"))
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            let answered = responses.filter { $0.0 == 200 }.count
            let refused = responses.filter { $0.0 == 503 }
            #expect(answered + refused.count == 20, "\(responses.map(\.0))")
            #expect(answered >= 5)
            #expect(!refused.isEmpty)
            #expect(refused.allSatisfy { $0.1 == "1" })
        }
    }
}

/// Plain TCP connections that send a prefix of a request (or nothing) and then wait,
/// counting how many the server has closed.
final class RawClients: Sendable {
    private let counts = Mutex((opened: 0, closed: 0))
    private let channels = Mutex<[any Channel]>([])

    var opened: Int { counts.withLock { $0.opened } }
    var closed: Int { counts.withLock { $0.closed } }

    /// Connects to `port` on loopback and sends `text`, if any.
    func open(port: Int, sending text: String?) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.autoRead, value: true)
            .connect(host: "127.0.0.1", port: port).get()
        counts.withLock { $0.opened += 1 }
        channel.closeFuture.whenComplete { [self] _ in counts.withLock { $0.closed += 1 } }
        if let text { try await channel.writeAndFlush(ByteBuffer(string: text)).get() }
        channels.withLock { $0.append(channel) }
    }

    deinit {
        for channel in channels.withLock({ $0 }) { channel.close(promise: nil) }
    }
}
