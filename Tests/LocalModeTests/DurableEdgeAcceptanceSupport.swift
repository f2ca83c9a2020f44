import Foundation
import PostgresTestSupport
import SQLite
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `tinyflow up` for the durable-edge acceptance tests: its data directory, extra module hosts
/// (each `tinyflow module-host --module common` under its own module name, so a flow can put its
/// producer and its consumer in different processes), and what the tests read of it.
final class DurableUp: Sendable {
    let data: URL
    let up: UpProcess
    let kubectl: Kubectl
    let modules: [String]
    let contextStore: String?

    /// Starts `tinyflow up` in `data` (a fresh directory when `nil`) with `manifests` (none: a
    /// restart, which restores what the data directory holds) and a host per name of `modules`.
    init(data: URL? = nil, manifests: String? = nil, modules: [String] = [], contextStore: String? = nil) throws {
        let data = try data ?? temporaryDataDirectory()
        var arguments = ["--data", data.path, "--port", "0", "--no-console"]
        if !modules.isEmpty {
            let file = data.appendingPathComponent("modules.yaml")
            let entries = modules.map { "  - name: \($0)\n    command: [tinyflow, module-host, --module, common]\n" }
            try ("modules:\n" + entries.joined()).write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--modules", file.path]
        }
        if let manifests {
            let file = data.appendingPathComponent("flow-\(UUID().uuidString.prefix(8)).yaml")
            try manifests.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["-f", file.path]
        }
        if let contextStore { arguments += ["--context-store", contextStore] }
        self.data = data
        self.modules = modules
        self.contextStore = contextStore
        self.up = try UpProcess(arguments)
        self.kubectl = Kubectl(kubeconfig: data.appendingPathComponent("kubeconfig").path)
    }

    /// `tinyflow up` again on the same data directory, modules and store, without manifests.
    func restarted() throws -> DurableUp {
        try DurableUp(data: data, modules: modules, contextStore: contextStore)
    }

    /// The SQLite file of the hosts' context and message store.
    var storePath: String { data.appendingPathComponent("context.db").path }

    /// The address module `module`'s host listens on, as `tinyflow up` printed it.
    func address(of module: String) -> String? {
        for line in up.output.split(separator: "\n") {
            if let match = line.firstMatch(of: /^module (\S+): host starting at (\S+)$/), match.1 == module {
                return String(match.2)
            }
        }
        return nil
    }

    /// The pid of module `module`'s host process now (its address is its `--listen` argument).
    func hostPID(_ module: String) -> Int32? {
        address(of: module).flatMap { up.child(running: $0) }
    }

    /// SIGKILLs module `module`'s host and waits until `tinyflow up` started a new one.
    func killHost(_ module: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let pid = try #require(hostPID(module), "module \(module) has a host", sourceLocation: sourceLocation)
        kill(pid, SIGKILL)
        try await eventually(
            "a new host of module \(module) after SIGKILL of \(pid)", timeout: .seconds(30), context: { self.up.output },
            sourceLocation: sourceLocation
        ) {
            self.hostPID(module).map { $0 != pid } ?? false
        }
    }

    /// Runs `tinyflow ARGUMENTS --data DATA` to its end; the output has its standard error too.
    @discardableResult
    func tinyflow(_ arguments: String..., timeout: Duration = .seconds(30)) async throws -> (status: Int32, output: String) {
        try await runToCompletion(tinyflowBinary, arguments + ["--data", data.path], timeout: timeout, includingStandardError: true)
    }

    /// A flow key's integer value as `tinyflow context get` prints it (`nil` if it fails or is not an integer).
    func contextValue(flow: String, key: String) async -> Int? {
        guard let (status, output) = try? await tinyflow("context", "get", "--flow", flow, "--key", key), status == 0 else { return nil }
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Waits until every node of `nodes` is Ready for its current generation.
    func waitUntilReady(_ nodes: [String], timeout: Duration = .seconds(90), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await eventually(
            "nodes \(nodes.joined(separator: ", ")) Ready", timeout: timeout, interval: .milliseconds(200),
            context: { self.up.output }, sourceLocation: sourceLocation
        ) {
            for node in nodes where try await !self.isReadyForItsGeneration(node) { return false }
            return true
        }
    }

    /// Whether the node's `Ready` condition is `True` for its current `metadata.generation`:
    /// its host runs what the spec says now.
    func isReadyForItsGeneration(_ node: String) async throws -> Bool {
        let result = try await kubectl(
            "get", "tn", node, "-o",
            #"jsonpath={.metadata.generation} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].observedGeneration}"#)
        let fields = result.output.split(separator: " ").map(String.init)
        return result.status == 0 && fields.count == 3 && fields[1] == "True" && fields[0] == fields[2]
    }

    /// `tinyflow flow pause|resume FLOW`.
    func setPaused(_ paused: Bool, flow: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let result = try await tinyflow("flow", paused ? "pause" : "resume", flow)
        #expect(result.status == 0 && result.output.contains("flow \(flow) \(paused ? "paused" : "resumed")"), sourceLocation: sourceLocation)
    }

    /// Kills `tinyflow up` and its children if they still run, and removes the data directory.
    func stop(removingData: Bool = true) {
        up.killIfRunning()
        if removingData { try? FileManager.default.removeItem(at: data) }
    }
}

/// What the hosts' store holds, read in one snapshot (one statement): the integer flow keys
/// asked for, the messages waiting or leased, the dead letters, and (SQLite) the number of
/// messages ever stored — `AUTOINCREMENT`'s sequence, which a rolled-back insert does not move.
struct StoreSnapshot: CustomStringConvertible {
    var values: [String: Int]
    var waiting: Int
    var deadLetters: Int
    var everStored: Int?
    /// Messages waiting or leased for each node asked for.
    var waitingIn: [String: Int] = [:]

    subscript(key: String) -> Int { values[key] ?? 0 }

    var description: String {
        "keys \(values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")), "
            + "\(waiting) waiting or leased \(waitingIn.sorted { $0.key < $1.key }.map { "(\($0.key): \($0.value))" }.joined(separator: " ")), "
            + "\(deadLetters) dead letters" + (everStored.map { ", \($0) ever stored" } ?? "")
    }

    /// Reads the SQLite store at `path` (as `tinyflow up` keeps it: `<data>/context.db`); `waiting`
    /// counts the messages for node `queue` only when one is given.
    static func sqlite(_ path: String, flow: String, keys: [String], queue node: String? = nil, alsoWaitingIn nodes: [String] = []) throws -> StoreSnapshot {
        let database = try SQLiteDatabase(path: path, fsync: false)
        defer { database.close() }
        let waiting = node.map { "SELECT count(*) FROM messages WHERE node = '\($0)'" } ?? "SELECT count(*) FROM messages"
        let columns = ["(\(waiting))", "(SELECT count(*) FROM dead_letters)", "ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)"]
            + nodes.map { "(SELECT count(*) FROM messages WHERE node = '\($0)')" }
            + keys.map { "(SELECT value FROM context_entries WHERE namespace = 'default' AND kind = 'flow' AND name = '\(flow)' AND key = '\($0)')" }
        let row = try #require(try database.query("SELECT " + columns.joined(separator: ", ")).first)
        var snapshot = StoreSnapshot(
            values: [:], waiting: Int(row[0].int ?? -1), deadLetters: Int(row[1].int ?? -1), everStored: Int(row[2].int ?? -1))
        for (index, node) in nodes.enumerated() { snapshot.waitingIn[node] = Int(row[3 + index].int ?? -1) }
        for (index, key) in keys.enumerated() {
            if let text = row[3 + nodes.count + index].text, let value = Int(text) { snapshot.values[key] = value }
        }
        return snapshot
    }

    /// Reads the PostgreSQL store at `url` with psql (`nil` while the server does not answer).
    static func postgres(_ url: String, flow: String, keys: [String], alsoWaitingIn nodes: [String] = []) async throws -> StoreSnapshot? {
        let columns = ["(SELECT count(*) FROM tinyflow_messages)", "(SELECT count(*) FROM tinyflow_dead_letters)"]
            + nodes.map { "(SELECT count(*) FROM tinyflow_messages WHERE node = '\($0)')" }
            + keys.map { "(SELECT value FROM tinyflow_context WHERE namespace = 'default' AND kind = 'flow' AND name = '\(flow)' AND key = '\($0)')" }
        let sql = "SELECT " + columns.joined(separator: ", ")
        let result = try await runToCompletion(try psqlPath(), ["-X", "-A", "-t", "-F", "|", "-d", url, "-c", sql], timeout: .seconds(20))
        guard result.status == 0 else { return nil }
        let fields = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == columns.count, let waiting = Int(fields[0]), let deadLetters = Int(fields[1]) else { return nil }
        var snapshot = StoreSnapshot(values: [:], waiting: waiting, deadLetters: deadLetters, everStored: nil)
        for (index, node) in nodes.enumerated() { snapshot.waitingIn[node] = Int(fields[2 + index]) ?? -1 }
        for (index, key) in keys.enumerated() {
            if let value = Int(fields[2 + nodes.count + index]) { snapshot.values[key] = value }
        }
        return snapshot
    }

    /// The psql of the PostgreSQL installation the tests' server comes from.
    static func psqlPath() throws -> String {
        var candidates: [String] = []
        if let directory = ProcessInfo.processInfo.environment["TINYFLOW_POSTGRES_BIN"], !directory.isEmpty {
            candidates.append("\(directory)/psql")
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Double($0).map { (String($0), $0) } }
        candidates += versions.sorted { $0.1 > $1.1 }.map { "\(root)/\($0.0)/bin/psql" }
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/psql" }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw MissingBinary(path: "psql")
        }
        return found
    }
}

/// Waits until `value` (read every 50 ms) has not changed for `quiet`: how the tests see that a
/// paused source stopped (its host applies the pause when the operator's sync reaches it; a
/// ticker sending every few milliseconds that adds nothing for a second has stopped).
func waitUntilUnchanged(
    _ what: String, for quiet: Duration = .seconds(1), timeout: Duration = .seconds(60), context: () async -> String = { "" },
    sourceLocation: SourceLocation = #_sourceLocation, _ value: () async throws -> Int?
) async throws {
    let clock = ContinuousClock()
    var last: (value: Int, since: ContinuousClock.Instant)?
    try await eventually(what, timeout: timeout, interval: .milliseconds(50), context: context, sourceLocation: sourceLocation) {
        guard let now = try await value() else { return false }
        if let last, last.value == now { return clock.now - last.since >= quiet }
        last = (now, clock.now)
        return false
    }
}

/// CPU time (user + system) process `pid` used so far, in seconds, from `/proc/PID/stat`.
func cpuSeconds(of pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
        return nil
    }
    // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// A `tinyflow module-host` child process of a test, without `tinyflow up`: how the tests run
/// what local mode has no way to express (two replicas of one module).
final class ModuleHostChild: Sendable {
    let process: Process
    let address: String

    /// Starts `tinyflow module-host --module common` on a free loopback port with `store` as its
    /// context store, serving callers without credentials (loopback, the test's own).
    init(store: String) throws {
        try requireExecutable(tinyflowBinary)
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tinyflowBinary)
        process.arguments = [
            "module-host", "--module", "common", "--listen", "127.0.0.1:\(port)", "--health-address", "none",
            "--log-level", "warning", "--allow-unauthenticated",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["TINYFLOW_CONTEXT_STORE": store]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.address = "127.0.0.1:\(port)"
    }

    /// Kills it if it still runs (SIGKILL) and reaps it.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
