import CRDModels
import Foundation
import GRPCTransport
import LocalMode
import Manifests
import ModuleHost
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The `tinyflow` binary built next to this test bundle.
let tinyflowBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tinyflow").path

/// A binary a test runs is not there: the test fails (it does not skip) and says how to build it.
struct MissingBinary: Error, CustomStringConvertible {
    var path: String
    var description: String {
        "no executable at \(path)"
            + (path == tinyflowBinary
                ? ": these tests run the tinyflow product; build it with `swift build --build-tests` (or `swift build --product tinyflow`) before `swift test --skip-build`"
                : "")
    }
}

/// Throws ``MissingBinary`` unless `path` is an executable file.
func requireExecutable(_ path: String) throws {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingBinary(path: path) }
}

/// A command `runToCompletion` had to kill.
struct CommandTimedOut: Error, CustomStringConvertible {
    var command: [String]
    var timeout: Duration
    var description: String { "\(command.joined(separator: " ")) did not finish within \(timeout); killed it" }
}

/// Runs a command to completion and returns its exit status and standard output (and its
/// standard error in the same text, with `includingStandardError`).
/// A command still running after `timeout` is killed and the call throws
/// ``CommandTimedOut``: a stuck child fails the test instead of hanging the run.
///
/// The caller suspends while the command runs: the blocking read of its output and
/// the wait for its exit happen on a thread of their own, not on one of the few
/// threads of the concurrency pool, which other tests need meanwhile.
@discardableResult
func runToCompletion(
    _ executable: String, _ arguments: [String], timeout: Duration = .seconds(90), includingStandardError: Bool = false
) async throws -> (status: Int32, output: String) {
    try requireExecutable(executable)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = includingStandardError ? pipe : FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let killed = Mutex(false)
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem {
        killed.withLock { $0 = true }
        kill(pid, SIGKILL)
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout / .seconds(1), execute: watchdog)
    let output = pipe.fileHandleForReading
    let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
        let thread = Thread {
            let data = output.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: data)
        }
        thread.name = "runToCompletion"
        thread.start()
    }
    watchdog.cancel()
    if killed.withLock({ $0 }), process.terminationReason == .uncaughtSignal {
        throw CommandTimedOut(command: [executable] + arguments, timeout: timeout)
    }
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether a TCP listener could bind 127.0.0.1:`port` right now.
func loopbackPortIsFree(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// The process ids whose parent is `pid`.
func childPIDs(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let child = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == pid else { return nil }
        return child
    }
}

/// A running `tinyflow up` with its standard output collected.
// Process is safe to query from any thread (isRunning, terminationStatus); the rest is immutable or locked.
final class UpProcess: @unchecked Sendable {
    let process: Process
    private let reader: PipeReader

    /// Starts `tinyflow up` (or `command`) with `arguments` in the repository root.
    /// `tinyflow up ARGUMENTS`, or another long-running `command` of tinyflow.
    init(_ arguments: [String], command: String = "up") throws {
        try requireExecutable(tinyflowBinary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tinyflowBinary)
        process.arguments = [command] + arguments
        process.currentDirectoryURL = repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        try process.run()
        reader = PipeReader(pipe.fileHandleForReading)
    }

    /// Everything it printed so far.
    var output: String { reader.text }

    /// Sends SIGINT and waits for it to exit; returns its exit status.
    func interrupt(within deadline: Duration) async throws -> (status: Int32, exited: Bool) {
        kill(process.processIdentifier, SIGINT)
        try await eventually("tinyflow up exits after SIGINT", timeout: deadline) { !self.process.isRunning }
        return (process.terminationStatus, process.terminationReason == .exit)
    }

    /// Kills it if it is still running (cleanup after a failure).
    func killIfRunning() {
        guard process.isRunning else { return }
        for child in childPIDs(of: process.processIdentifier) { kill(child, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
    }
}


extension UpProcess {
    /// The pid of its child whose command line contains `argument` (`module-host`, `operator`).
    func child(running argument: String) -> Int32? {
        childPIDs(of: process.processIdentifier).first { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument }
        }
    }

    /// The `count` fields of the payloads printed for debug node `node`, in order.
    func printedCounts(of node: String) -> [Int] {
        output.split(separator: "\n").filter { $0.hasPrefix("[\(node)] ") }.compactMap { line in
            guard let match = line.firstMatch(of: /"count"\s*:\s*"?(\d+)/) else { return nil }
            return Int(match.1)
        }
    }
}

/// A fresh data directory for one `tinyflow up`.
func temporaryDataDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-up-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// The real kubectl, pointed at one control plane.
struct Kubectl {
    static let path = "/usr/bin/kubectl"
    var kubeconfig: String

    /// Runs `kubectl --kubeconfig … arguments`; returns its exit status and standard output.
    @discardableResult
    func callAsFunction(_ arguments: String...) async throws -> (status: Int32, output: String) {
        try await runToCompletion(Self.path, ["--kubeconfig", kubeconfig] + arguments)
    }

    /// The TinyNode names `kubectl get tn` lists (none if it fails).
    func nodeNames() async throws -> [String] {
        let result = try await self("get", "tn", "-o", "name")
        guard result.status == 0 else { return [] }
        return result.output.split(separator: "\n").map { String($0.split(separator: "/").last ?? "") }
    }

    /// A node's condition `type` as kubectl shows it: status and message (empty if absent).
    func condition(_ node: String, _ type: String) async throws -> (status: String, message: String) {
        let status = try await self("get", "tn", node, "-o", "jsonpath={.status.conditions[?(@.type==\"\(type)\")].status}").output
        let message = try await self("get", "tn", node, "-o", "jsonpath={.status.conditions[?(@.type==\"\(type)\")].message}").output
        return (status, message)
    }

    /// Whether every one of `nodes` is Ready.
    func allReady(_ nodes: [String]) async throws -> Bool {
        for node in nodes {
            if try await condition(node, "Ready").status != "True" { return false }
        }
        return true
    }
}

/// Whether `counts` (as printed, possibly starting mid-stream) go up by exactly one each time:
/// no tick lost, none repeated, no second ticker interleaving its own.
func isContiguous(_ counts: [Int]) -> Bool {
    zip(counts, counts.dropFirst()).allSatisfy { $1 == $0 + 1 }
}
