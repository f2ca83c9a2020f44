import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

private let counterNodes = ["counter-ticker", "counter-count", "counter-debug"]

/// The count `tinyflow context get` prints for examples/counter-flow.yaml, if it prints one.
private func count(data: URL) async -> Int? {
    guard let (status, output) = try? await runToCompletion(
        tinyflowBinary, ["context", "get", "--flow", "counter", "--key", "ticks", "--data", data.path], timeout: .seconds(20)),
        status == 0
    else { return nil }
    return Int(output.trimmingCharacters(in: .whitespacesAndNewlines))
}

/// They run the `tinyflow` product: without it they fail and say how to build it (``MissingBinary``).
@Suite("context under tinyflow up", .serialized, .timeLimit(.minutes(5)))
struct ContextEndToEndTests {
    @Test("a kv counter keeps counting across a SIGKILL of its module host and a restart of tinyflow up")
    func counterSurvivesRestarts() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/counter-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the counter counts", timeout: .seconds(60)) { (await count(data: data) ?? 0) >= 5 }

        let host = try #require(up.child(running: "module-host"))
        let beforeKill = try #require(await count(data: data))
        kill(host, SIGKILL)
        try await eventually("a new module host", timeout: .seconds(20)) {
            up.child(running: "module-host").map { $0 != host } ?? false
        }
        try await eventually("the count goes on from where it was", timeout: .seconds(30)) {
            (await count(data: data) ?? 0) >= beforeKill + 5
        }
        let afterKill = try #require(await count(data: data))
        #expect(afterKill >= beforeKill + 5)

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("context.db").path))

        let again = try UpProcess(["--data", data.path, "--port", "0"])
        defer { again.killIfRunning() }
        try await eventually("the count goes on after the restart", timeout: .seconds(60)) {
            (await count(data: data) ?? 0) >= afterKill + 5
        }
        let second = try await again.interrupt(within: .seconds(20))
        #expect(second.exited && second.status == 0)
    }

    @Test("tinyflow context sets, lists, gets and deletes keys of a flow, a node and the namespace")
    func contextCommand() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/counter-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        func context(_ arguments: String...) async throws -> (status: Int32, output: String) {
            try await runToCompletion(tinyflowBinary, ["context"] + arguments + ["--data", data.path], timeout: .seconds(20))
        }
        try await eventually("the module host answers context requests", timeout: .seconds(60)) {
            (try? await context("list", "--global"))?.status == 0
        }
        #expect(try await context("set", "--global", "--key", "greeting", "--value", #"{"text":"hi"}"#).status == 0)
        #expect(try await context("get", "--global", "--key", "greeting").output == "{\"text\":\"hi\"}\n")
        #expect(try await context("set", "--node", "counter-debug", "--key", "note", "--value", "plain words").status == 0)
        #expect(try await context("get", "--node", "counter-debug", "--key", "note").output == "\"plain words\"\n")
        #expect(try await context("list", "--node", "counter-debug").output == "note\n")
        #expect(try await context("get", "--flow", "counter", "--key", "note").status != 0)
        #expect(try await context("delete", "--node", "counter-debug", "--key", "note").output == "deleted 1 key\n")
        #expect(try await context("get", "--node", "counter-debug", "--key", "note").status != 0)
        #expect(try await context("get", "--node", "no-such-node", "--key", "x").status != 0)
        _ = try await up.interrupt(within: .seconds(20))
    }
}
