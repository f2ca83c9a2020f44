import ArgumentParser
import CRDModels
import ComponentKit
import Foundation
import GRPCTransport
import Logging
import ModuleHostAPI
import ModuleHostApp

#if canImport(Glibc)
import Glibc
#endif

/// `tinyflow-bench durable-host`: a module host of the bench's module (``DurableBenchModule``),
/// run by ``ModuleHostProcess`` — what `tinyflow module-host` and every module's
/// `ModuleHost.main` run: gRPC server, context and message store opened from
/// `--context-store` with their services (SQLite's doorbell, PostgreSQL's `LISTEN`), graceful
/// shutdown on SIGTERM. `tinyflow-bench durable` starts two of them for the cross-host figures.
struct DurableHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "durable-host",
        abstract: "Run a module host of the bench's components for `tinyflow-bench durable` (started by it).",
        shouldDisplay: false)

    @OptionGroup var options: ModuleHostOptions

    func run() async throws {
        var logger = Logger(label: "tinyflow-bench.durable-host")
        logger.logLevel = options.logLevel
        try await ModuleHostProcess.run(DurableBenchModule.definition, options: options, logger: logger)
    }
}

/// Two module-host child processes (``DurableHostCommand``) sharing one store: the producer
/// runs the source, the consumer the sink; they meet only in the store (the source's durable
/// edge leads to a node of another module). The bench syncs their nodes over gRPC, as the
/// operator does, and reads each run's result from a file the sink writes.
final class DurableHostPair: Sendable {
    /// What the JSON lines say was measured.
    static let description = """
        two module-host processes (tinyflow-bench durable-host: ModuleHostProcess, the code tinyflow module-host runs, \
        with the bench's components) sharing the store, synced over gRPC
        """

    private let producer: HostChild
    private let consumer: HostChild
    private let directory: URL

    /// Starts both hosts on the store `contextStore` (a `--context-store` value), with
    /// `executable` (default: this executable) and their logs in `directory`.
    init(contextStore: String, executable: String?, directory: URL) throws {
        self.directory = directory
        let executable = executable ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        producer = try HostChild(name: "producer", executable: executable, contextStore: contextStore, directory: directory)
        do {
            consumer = try HostChild(name: "consumer", executable: executable, contextStore: contextStore, directory: directory)
        } catch {
            producer.stop()
            throw error
        }
    }

    /// One run across the hosts, as ``DurableHop/run(stores:delivery:messages:senders:rate:timeLimit:)``.
    func run(messages: Int, senders: Int, rate: Double, timeLimit: Duration, generation: Int64) async throws -> DurableRunResult {
        let run = DurableHop.nextRunName()
        let report = directory.appendingPathComponent("\(run).json").path
        let stopAt = systemMonotonicNanoseconds() + nanoseconds(timeLimit)
        let nodes = DurableBenchNodes(
            run: run, delivery: .durable, messages: messages, senders: senders, rate: rate, stopAt: stopAt, report: report)
        try await consumer.sync(DesiredNodes(generation: generation, nodes: [nodes.sink]))
        try await producer.sync(
            DesiredNodes(
                generation: generation, nodes: [nodes.source], remoteNodes: [nodes.sink.name: DurableBenchModule.definition.name]))
        defer { try? FileManager.default.removeItem(atPath: report) }
        // The sink finishes at the first message after `stopAt` at the latest; give it 5 s more.
        let giveUp = stopAt + 5_000_000_000
        while systemMonotonicNanoseconds() < giveUp {
            if let data = FileManager.default.contents(atPath: report) {
                return try JSONDecoder().decode(DurableRunResult.self, from: data)
            }
            try producer.checkRunning()
            try consumer.checkRunning()
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DurableBenchError("run \(run) across hosts: no result within the time limit; logs in \(directory.path)")
    }

    /// Stops both hosts (SIGTERM, SIGKILL after 10 s).
    func stop() async {
        producer.stop()
        consumer.stop()
        await producer.waitForExit()
        await consumer.waitForExit()
    }
}

/// One `tinyflow-bench durable-host` child process, stopped with this process (its stdin is a
/// pipe only we write to: `TINYFLOW_STOP_WITH_PARENT`), its output in `<name>.log`.
private final class HostChild: Sendable {
    let name: String
    let address: String
    private let process: Process
    /// Held open while the child should run: it stops at end-of-file.
    private let lifeline: Pipe
    private let log: URL

    init(name: String, executable: String, contextStore: String, directory: URL) throws {
        self.name = name
        let port = try loopbackPort()
        address = "127.0.0.1:\(port)"
        log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        lifeline = Pipe()
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "durable-host", "--listen", address, "--health-address", "none", "--allow-unauthenticated",
            "--context-store", contextStore, "--log-level", "warning",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["TINYFLOW_STOP_WITH_PARENT"] = "1"
        environment.removeValue(forKey: "TINYFLOW_CONTEXT_STORE")
        process.environment = environment
        process.standardInput = lifeline
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Makes the host run exactly `desired`, retrying (up to 30 s) while its gRPC server starts.
    func sync(_ desired: DesiredNodes) async throws {
        let giveUp = ContinuousClock.now + .seconds(30)
        while true {
            try checkRunning()
            do {
                let result = try await ModuleHostClient.withClient(address: address, callTimeout: .seconds(10)) { try await $0.sync(desired) }
                let failed = result.nodes.filter { $0.phase != .running }
                guard failed.isEmpty else {
                    throw DurableBenchError("\(name) host: nodes not running: \(failed.map { "\($0.name): \($0.error ?? "\($0.phase)")" })")
                }
                return
            } catch let error as DurableBenchError {
                throw error
            } catch {
                guard ContinuousClock.now < giveUp else { throw DurableBenchError("\(name) host at \(address): \(error); log: \(log.path)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func checkRunning() throws {
        guard process.isRunning else {
            let tail = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
            throw DurableBenchError("the \(name) host exited (status \(process.terminationStatus)): \(tail)")
        }
    }

    /// SIGTERM (a graceful shutdown).
    func stop() {
        if process.isRunning { process.terminate() }
        try? lifeline.fileHandleForWriting.close()
    }

    /// Waits (polling, off the pool's threads' way) until it exited; SIGKILL after 10 s.
    func waitForExit() async {
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}

/// A TCP port on loopback that was free a moment ago.
private func loopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw DurableBenchError("cannot create a socket: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw DurableBenchError("cannot bind a loopback port: errno \(errno)") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
