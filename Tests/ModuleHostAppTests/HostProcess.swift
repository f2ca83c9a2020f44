import Foundation
import Synchronization
import Testing

/// A `tinyflow module-host` child process.
///
/// Waiting for it to exit suspends the caller (it polls): it never blocks one of the
/// few threads of the concurrency pool, which the tests running meanwhile need.
final class HostProcess: Sendable {
    let process: Process
    let port: Int

    /// Starts `tinyflow module-host` on `port` with `extraArguments` and `environment` added to ours;
    /// without credentials among them, it serves callers without any (`--allow-unauthenticated`).
    init(port: Int, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        let credentials = ["--token-file", "--tls-cert"]
        let extraArguments = extraArguments.contains(where: credentials.contains) ? extraArguments : extraArguments + ["--allow-unauthenticated"]
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tinyflow")
        let process = Process()
        process.executableURL = binary
        process.arguments =
            ["module-host", "--listen", "127.0.0.1:\(port)", "--health-address", "none", "--log-level", "warning"] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.port = port
    }

    var address: String { "127.0.0.1:\(port)" }

    /// SIGKILL, and waits until it exited (the test fails if it has not within 10 s).
    func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        if await !exits(within: .seconds(10)) {
            Issue.record("the module host did not exit within 10 s of SIGKILL")
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s (the test then fails).
    func terminate() async {
        process.terminate()
        if await !exits(within: .seconds(10)) {
            Issue.record("the module host did not exit within 10 s of SIGTERM")
            await kill()
        }
    }

    /// Whether it exited within `timeout`. Polls in a task of its own, so a cancelled
    /// test (one past its time limit) still waits for its child instead of spinning.
    private func exits(within timeout: Duration) async -> Bool {
        await Task {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            return !process.isRunning
        }.value
    }
}

/// Starts module hosts for one test: ``withHostProcesses(_:)`` stops them all.
final class HostProcesses: Sendable {
    private let started = Mutex<[HostProcess]>([])

    /// Starts a ``HostProcess`` that is stopped when the enclosing ``withHostProcesses(_:)`` ends.
    func start(port: Int, extraArguments: [String] = [], environment: [String: String] = [:]) throws -> HostProcess {
        let host = try HostProcess(port: port, extraArguments: extraArguments, environment: environment)
        started.withLock { $0.append(host) }
        return host
    }

    /// Terminates every host still running, in the order they were started.
    fileprivate func terminateAll() async {
        for host in started.withLock({ $0 }) where host.process.isRunning {
            await host.terminate()
        }
    }
}

/// Runs `body` with a ``HostProcesses`` to start module hosts with, then terminates
/// every host it started that still runs (SIGTERM, SIGKILL after 10 s), whether
/// `body` returned or threw.
func withHostProcesses<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (HostProcesses) async throws -> Result
) async throws -> Result {
    let hosts = HostProcesses()
    let result: Result
    do {
        result = try await body(hosts)
    } catch {
        await hosts.terminateAll()
        throw error
    }
    await hosts.terminateAll()
    return result
}
