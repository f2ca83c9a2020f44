import Foundation
import LocalMode
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Whether a process with `pid` still exists (and is not a zombie).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return true }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Collects values from any thread.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    /// Appends `value`.
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    /// Everything appended so far.
    var values: [Value] { storage.withLock { $0 } }
}

private func fastPolicy(grace: Duration = .seconds(5)) -> SupervisorPolicy {
    var policy = SupervisorPolicy()
    policy.initialBackoff = .milliseconds(10)
    policy.maxBackoff = .milliseconds(50)
    policy.gracePeriod = grace
    return policy
}

@Suite("Process supervisor", .timeLimit(.minutes(3)))
struct ProcessSupervisorTests {
    @Test("a child that exits is started again, and each exit is reported with its status")
    func restartsAChildThatExits() async throws {
        let events = Recorder<ChildEvent>()
        let supervisor = ProcessSupervisor(policy: fastPolicy()) { event in events.append(event) }
        await supervisor.start(ChildSpec(name: "flaky", executable: "/bin/sh", arguments: ["-c", "exit 3"]))
        try await eventually("three starts") { await supervisor.startCount(of: "flaky") >= 3 }
        await supervisor.shutdown()
        let exits = events.values.filter {
            if case .exited(name: "flaky", status: 3, signaled: false, restartIn: _) = $0 { return true }
            return false
        }
        #expect(exits.count >= 2)
    }

    @Test("a child killed from outside is replaced by a new process")
    func replacesAKilledChild() async throws {
        let supervisor = ProcessSupervisor(policy: fastPolicy())
        await supervisor.start(ChildSpec(name: "sleeper", executable: "/bin/sleep", arguments: ["60"]))
        try await eventually("the sleeper runs") { await supervisor.pid(of: "sleeper") != nil }
        let first = try #require(await supervisor.pid(of: "sleeper"))
        kill(first, SIGKILL)
        try await eventually("a new sleeper runs") {
            let pid = await supervisor.pid(of: "sleeper")
            return pid != nil && pid != first
        }
        let second = try #require(await supervisor.pid(of: "sleeper"))
        await supervisor.shutdown()
        #expect(!isAlive(second))
        #expect(await supervisor.startCount(of: "sleeper") == 2)
    }

    @Test("shutdown ends every child with SIGTERM well within the grace period and restarts none")
    func shutdownTerminatesChildren() async throws {
        let supervisor = ProcessSupervisor(policy: fastPolicy(grace: .seconds(10)))
        await supervisor.start(ChildSpec(name: "a", executable: "/bin/sleep", arguments: ["60"]))
        await supervisor.start(ChildSpec(name: "b", executable: "/bin/sleep", arguments: ["60"]))
        try await eventually("both run") { await supervisor.runningPIDs.count == 2 }
        let pids = await supervisor.runningPIDs
        let clock = ContinuousClock()
        let elapsed = await clock.measure { await supervisor.shutdown() }
        #expect(elapsed < .seconds(5))
        for pid in pids { #expect(!isAlive(pid)) }
        #expect(await supervisor.startCount(of: "a") == 1)
        #expect(await supervisor.startCount(of: "b") == 1)
        #expect(await supervisor.runningPIDs.isEmpty)
    }

    @Test("a child that ignores SIGTERM gets SIGKILL after the grace period")
    func killsAStubbornChild() async throws {
        let supervisor = ProcessSupervisor(policy: fastPolicy(grace: .milliseconds(300)))
        await supervisor.start(ChildSpec(
            name: "stubborn", executable: "/bin/sh", arguments: ["-c", "trap '' TERM; exec /bin/sleep 60"]))
        try await eventually("the child ignores SIGTERM and sleeps") {
            guard let pid = await supervisor.pid(of: "stubborn"),
                  let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
            else { return false }
            return command.hasPrefix("/bin/sleep")
        }
        let pid = try #require(await supervisor.pid(of: "stubborn"))
        let clock = ContinuousClock()
        let elapsed = await clock.measure { await supervisor.shutdown() }
        #expect(elapsed >= .milliseconds(300))
        #expect(!isAlive(pid))
    }

    @Test("a child whose executable is missing is retried and reported, not fatal")
    func reportsAMissingExecutable() async throws {
        let events = Recorder<ChildEvent>()
        let supervisor = ProcessSupervisor(policy: fastPolicy()) { event in events.append(event) }
        await supervisor.start(ChildSpec(name: "ghost", executable: "/nonexistent/tinyflow", arguments: []))
        try await eventually("two failed starts") {
            events.values.filter { if case .failedToStart = $0 { return true } else { return false } }.count >= 2
        }
        await supervisor.shutdown()
    }

    @Test("a child's output goes to its log file")
    func writesChildOutputToItsLogFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-supervisor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("logs/echo.log").path
        let supervisor = ProcessSupervisor(policy: fastPolicy())
        await supervisor.start(ChildSpec(
            name: "echo", executable: "/bin/sh", arguments: ["-c", "echo hello from the child; exec /bin/sleep 60"], logFile: log))
        try await eventually("the line is in the log") {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("hello from the child") ?? false
        }
        await supervisor.shutdown()
    }

    @Test(
        "a child's log rotates at its size bound: whole lines, the newest kept, the total bounded, all 0600 in a 0700 directory",
        .timeLimit(.minutes(1)))
    func rotatesAChildLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-supervisor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logs = directory.appendingPathComponent("logs")
        let log = logs.appendingPathComponent("chatty.log").path
        let limit = LogFileLimit(maxBytes: 64 * 1024, rotatedFiles: 2)
        let line = "a line of output from a chatty child process"
        let supervisor = ProcessSupervisor(policy: fastPolicy())
        // About 900 KB: fourteen times what one file holds.
        await supervisor.start(ChildSpec(
            name: "chatty", executable: "/bin/sh",
            arguments: ["-c", "yes '\(line)' | head -n 20000; echo the last line; exec /bin/sleep 60"],
            logFile: log, logLimit: limit))
        try await eventually("the last line is in the log") {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("the last line") ?? false
        }
        await supervisor.shutdown()
        let files = [log, log + ".1", log + ".2"]
        var total = 0
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            total += text.utf8.count
            #expect(text.utf8.count <= limit.maxBytes, "\(file)")
            #expect(text.split(separator: "\n").allSatisfy { $0 == line || $0 == "the last line" }, "\(file) holds whole lines")
            #expect(octal(permissions(of: file)) == "0600", "\(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: log + ".3"))
        #expect(total <= limit.totalBytes)
        #expect(total > 2 * limit.maxBytes - 2 * line.utf8.count, "the rotated files are full")
        #expect(octal(permissions(of: logs.path)) == "0700")
    }
}
