import Foundation
import Synchronization

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

    /// A running kubectl whose output is collected as it arrives.
    ///
    /// `@unchecked Sendable`: `process` is never mutated after `init`; only `isRunning`,
    /// `terminate()` and `waitUntilExit()` are called on it, which Foundation's `Process`
    /// allows from any thread. The output buffer is behind a `Mutex`.
    final class Running: @unchecked Sendable {
        let process: Process
        private let buffer = Mutex("")

        init(binary: String, arguments: [String], environment: [String: String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = environment
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let buffer = self.buffer
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil; return }
                buffer.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var output: String { buffer.withLock { $0 } }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
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

    func run(_ arguments: [String], stdin: String? = nil, timeout: Duration = .seconds(30)) async throws -> Kubectl.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = baseArguments + arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        try process.run()
        let outData = Mutex(Data()), errData = Mutex(Data())
        async let stdoutRead: Void = Task.detached { outData.withLock { $0 = out.fileHandleForReading.readDataToEndOfFile() } }.value
        async let stderrRead: Void = Task.detached { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }.value
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            if clock.now > deadline {
                process.terminate()
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        _ = await (stdoutRead, stderrRead)
        process.waitUntilExit()
        return Kubectl.Result(status: process.terminationStatus,
                              stdout: String(decoding: outData.withLock { $0 }, as: UTF8.self),
                              stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    func start(_ arguments: [String]) throws -> Kubectl.Running {
        try Kubectl.Running(binary: binary, arguments: baseArguments + arguments, environment: environment)
    }
}
