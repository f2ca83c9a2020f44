import Foundation
import Synchronization
import TestSupport

/// Finds and runs real kubectl binaries for the acceptance tests.
///
/// `TINYFLOW_KUBECTL` (colon-separated paths) picks the binaries explicitly. Otherwise
/// `kubectl` is looked up on `PATH`; when it is the Google Cloud SDK dispatcher, the
/// versioned binaries next to it (`kubectl.1.27` … `kubectl.1.33`) are used directly,
/// oldest and newest; else that one `kubectl`.
enum Kubectl {
    static let binaries: [String] = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["TINYFLOW_KUBECTL"], !explicit.isEmpty {
            return explicit.split(separator: ":").map(String.init).filter { FileManager.default.isExecutableFile(atPath: $0) }
        }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        guard let found = path.split(separator: ":").map({ "\($0)/kubectl" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return []
        }
        let resolved = URL(fileURLWithPath: found).resolvingSymlinksInPath()
        let directory = resolved.deletingLastPathComponent()
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("kubectl.1.") }
            .compactMap { name -> (Int, String)? in Int(name.dropFirst("kubectl.1.".count)).map { ($0, directory.appendingPathComponent(name).path) } }
            .sorted { $0.0 < $1.0 }
        if let oldest = versioned.first, let newest = versioned.last {
            return oldest.1 == newest.1 ? [oldest.1] : [oldest.1, newest.1]
        }
        return [resolved.path]
    }()

    static var available: Bool { !binaries.isEmpty }

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    /// A running kubectl whose output is collected as it arrives, without blocking any
    /// thread of the concurrency pool (each pipe is drained by a ``PipeReader`` thread).
    ///
    /// `@unchecked Sendable`: `process` is never mutated after `init`; only `isRunning`,
    /// `terminationStatus` and `terminate()` are called on it, which Foundation's `Process`
    /// allows from any thread. The readers are `Sendable`.
    final class Running: @unchecked Sendable {
        let process: Process
        private let stdoutReader: PipeReader
        private let stderrReader: PipeReader?

        init(binary: String, arguments: [String], environment: [String: String], mergeOutput: Bool = true) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = environment
            let out = Pipe()
            let err = mergeOutput ? out : Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            stdoutReader = PipeReader(out.fileHandleForReading)
            stderrReader = mergeOutput ? nil : PipeReader(err.fileHandleForReading)
        }

        var output: String { stdoutReader.text }
        var errorOutput: String { stderrReader?.text ?? "" }
        var finished: Bool { !process.isRunning && stdoutReader.finished && (stderrReader?.finished ?? true) }

        /// Waits (polling, so no pool thread blocks) until the process exited and its output is
        /// drained. A pipe another child inherited may never report end-of-file, so once the
        /// process has exited, output gets one more second to arrive.
        func waitForExit(timeout: Duration) async throws -> Bool {
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            var exitedAt: ContinuousClock.Instant?
            while !finished {
                if clock.now > deadline { return false }
                if !process.isRunning {
                    if let exitedAt, clock.now - exitedAt > .seconds(1) { return true }
                    exitedAt = exitedAt ?? clock.now
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        }

        func stop() {
            if process.isRunning { process.terminate() }
        }
    }
}

/// One kubectl binary pointed at one kubeconfig, with its own discovery cache.
struct KubectlRunner: Sendable {
    var binary: String
    var kubeconfig: String
    var home: String

    var environment: [String: String] {
        ["HOME": home, "KUBECONFIG": kubeconfig, "PATH": "/usr/bin:/bin"]
    }

    var baseArguments: [String] { ["--kubeconfig", kubeconfig, "--cache-dir", home + "/cache", "--request-timeout", "20s"] }

    func run(_ arguments: [String], timeout: Duration = .seconds(40)) async throws -> Kubectl.Result {
        let running = try Kubectl.Running(binary: binary, arguments: baseArguments + arguments, environment: environment, mergeOutput: false)
        if try await !running.waitForExit(timeout: timeout) {
            running.stop()
            _ = try await running.waitForExit(timeout: .seconds(5))
            return Kubectl.Result(status: -1, stdout: running.output, stderr: running.errorOutput + "\n(timed out)")
        }
        return Kubectl.Result(status: running.process.terminationStatus, stdout: running.output, stderr: running.errorOutput)
    }

    func start(_ arguments: [String]) throws -> Kubectl.Running {
        try Kubectl.Running(binary: binary, arguments: baseArguments + arguments, environment: environment)
    }
}
