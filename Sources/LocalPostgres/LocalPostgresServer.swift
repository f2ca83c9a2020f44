public import Foundation
import Synchronization

/// A throwaway PostgreSQL server on this machine, for tests and benchmarks, from the
/// machine's PostgreSQL binaries (Debian's `postgresql` package:
/// `/usr/lib/postgresql/<version>/bin`, the newest version found).
///
/// Each server lives in a fresh temporary directory (data, Unix socket, log) and listens on a
/// free loopback port, with `fsync=off`. As root it runs as the `postgres` user (initdb and
/// postgres refuse root). `postgres` is a direct child started with a parent-death signal, and
/// an exit handler stops every server and removes its directory, so nothing outlives the
/// process; directories left by a killed run are removed when the next one starts.
///
/// Loopback connections are trusted, except for the role ``user``, which must log in with
/// ``password`` (SCRAM); ``createDatabase()`` hands out URLs for that role.
public actor LocalPostgresServer {
    /// The role the URLs of ``createDatabase()`` log in as.
    public static let user = "tinyflow"
    /// Its password: characters a URL must percent-encode, so tests cover the decoding.
    /// Nothing secret: the server listens on loopback only and lives as long as the process.
    public static let password = "s3cr:t/p@ss word"
    /// The password as it appears in a URL.
    public static let encodedPassword = "s3cr%3At%2Fp%40ss%20word"
    /// Whether this machine can run a server: PostgreSQL's binaries are there (and, as
    /// root, the `postgres` user and a way to switch to it). Cheap: nothing starts.
    public static var isInstalled: Bool {
        (try? findBinaries()) != nil && (try? runAsArguments()) != nil
    }

    /// The loopback port the server listens on (kept across ``stop()`` and ``start()``).
    public nonisolated let port: Int
    /// The temporary directory holding the data directory, the socket and `postgres.log`.
    public nonisolated let directory: URL

    private let binaries: URL
    private let runAs: [String]
    private var process: Process?
    private var databases = 0
    private var terminated = false

    /// Starts a server of the caller's own (initdb, start, create the role ``user``);
    /// ``terminate()`` it when done (the exit handler does, at the latest).
    public static func launch() async throws -> LocalPostgresServer {
        let binaries = try findBinaries()
        let runAs = try runAsArguments()
        removeLeftoverDirectories()
        let directory = try makeDirectory()
        let server = LocalPostgresServer(binaries: binaries, runAs: runAs, directory: directory, port: try freePort())
        Registry.add(server)
        do {
            try await server.initialize()
            try await server.start()
            try await server.createRole()
        } catch {
            await server.terminate()
            throw error
        }
        return server
    }

    private init(binaries: URL, runAs: [String], directory: URL, port: Int) {
        self.binaries = binaries
        self.runAs = runAs
        self.directory = directory
        self.port = port
    }

    /// A fresh, empty database owned by ``user``; returns its URL
    /// (`postgres://tinyflow:…@127.0.0.1:PORT/tinyflow_N?sslmode=disable`).
    public func createDatabase() async throws -> String {
        databases += 1
        let name = "tinyflow_\(databases)"
        try await psql("CREATE DATABASE \(name) OWNER \(Self.user)")
        return url(database: name)
    }

    /// The URL of `database` for ``user``.
    public nonisolated func url(database: String) -> String {
        "postgres://\(Self.user):\(Self.encodedPassword)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Starts the server (again, after ``stop()``: same port, same data) and waits until it
    /// accepts connections, for at most 30 s.
    public func start() async throws {
        guard !terminated else { throw LocalPostgresError(message: "the server was terminated") }
        guard process == nil else { return }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: runAs.isEmpty ? binaries.appendingPathComponent("postgres").path : runAs[0])
        process.arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : [binaries.appendingPathComponent("postgres").path]) + [
            "-D", dataDirectory.path, "-p", "\(port)", "-k", directory.path,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB",
            "-c", "logging_collector=off",
        ]
        process.currentDirectoryURL = directory
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        self.process = process
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        while true {
            if !process.isRunning {
                self.process = nil
                throw LocalPostgresError(message: "postgres exited with status \(process.terminationStatus): \(logTail())")
            }
            if try await run(binaries.appendingPathComponent("pg_isready"), ["-q", "-h", "127.0.0.1", "-p", "\(port)", "-t", "1"]).status == 0 {
                return
            }
            if clock.now > deadline {
                throw LocalPostgresError(message: "postgres did not accept connections within 30 s: \(logTail())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the server (fast shutdown: sessions are ended) and waits until it exited; the
    /// data stays for ``start()``.
    public func stop() async {
        guard let process else { return }
        self.process = nil
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        var killed = false
        while process.isRunning {
            if !killed, clock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the server and removes its directory.
    public func terminate() async {
        await stop()
        terminated = true
        try? FileManager.default.removeItem(at: directory)
        Registry.remove(directory)
    }

    /// The last lines of the server's log, for error messages.
    public func logTail() -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    // MARK: - Setting up

    private var dataDirectory: URL { directory.appendingPathComponent("data") }
    private var logFile: URL { directory.appendingPathComponent("postgres.log") }

    private func initialize() async throws {
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let initdb = binaries.appendingPathComponent("initdb")
        let arguments = runAs.isEmpty ? [] : Array(runAs.dropFirst()) + [initdb.path]
        let result = try await run(
            runAs.isEmpty ? initdb : URL(fileURLWithPath: runAs[0]),
            arguments + ["-D", dataDirectory.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        guard result.status == 0 else {
            throw LocalPostgresError(message: "initdb failed with status \(result.status): \(result.output.suffix(2000))")
        }
        let rules = """
            local all all trust
            host all \(Self.user) 127.0.0.1/32 scram-sha-256
            host all \(Self.user) ::1/128 scram-sha-256
            host all all 127.0.0.1/32 trust
            host all all ::1/128 trust

            """
        try rules.write(to: dataDirectory.appendingPathComponent("pg_hba.conf"), atomically: false, encoding: .utf8)
    }

    private func createRole() async throws {
        let quoted = Self.password.replacingOccurrences(of: "'", with: "''")
        try await psql("SET password_encryption = 'scram-sha-256'; CREATE ROLE \(Self.user) LOGIN PASSWORD '\(quoted)'")
    }

    /// Runs `sql` (one or more statements, stopping at the first error) in `database` as the
    /// superuser, through `psql`: what tests use to put a database in a given state.
    public func psql(_ sql: String, database: String = "postgres") async throws {
        let result = try await run(
            binaries.appendingPathComponent("psql"),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-c", sql])
        guard result.status == 0 else {
            throw LocalPostgresError(message: "psql failed with status \(result.status): \(result.output.suffix(2000))")
        }
    }

    /// Runs a short command to its end, with its output in a file (no pipe to fill up).
    private func run(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let outputFile = directory.appendingPathComponent("command-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let output = try FileHandle(forWritingTo: outputFile)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["PGCONNECT_TIMEOUT"] = "5"
        environment["LC_ALL"] = "C"
        process.environment = environment
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try? output.close()
        return (status, (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "")
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` (or `TINYFLOW_POSTGRES_BIN`, or the `PATH`).
    private static func findBinaries() throws -> URL {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["TINYFLOW_POSTGRES_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { name in Double(name).map { (name, $0) } }
            .filter { fileManager.isExecutableFile(atPath: "\(root)/\($0.0)/bin/postgres") }
            .sorted { $0.1 > $1.1 }
        if let newest = versions.first { return URL(fileURLWithPath: "\(root)/\(newest.0)/bin") }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if fileManager.isExecutableFile(atPath: "\(directory)/initdb"), fileManager.isExecutableFile(atPath: "\(directory)/postgres") {
                return URL(fileURLWithPath: String(directory))
            }
        }
        throw LocalPostgresError(
            message: "no PostgreSQL server binaries (initdb, postgres) in \(root)/<version>/bin or on the PATH: install the postgresql package")
    }

    /// How to run initdb and postgres: as the `postgres` user when this process is root
    /// (`setpriv`, which also gives the parent-death signal), else as ourselves.
    private static func runAsArguments() throws -> [String] {
        guard getuid() == 0 else {
            return FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "INT", "--"] : []
        }
        guard let user = getpwnam("postgres") else {
            throw LocalPostgresError(message: "running as root, and there is no postgres user to run the server as")
        }
        for setpriv in ["/usr/bin/setpriv", "/bin/setpriv"] where FileManager.default.isExecutableFile(atPath: setpriv) {
            return [setpriv, "--reuid=\(user.pointee.pw_uid)", "--regid=\(user.pointee.pw_gid)", "--init-groups", "--pdeathsig", "INT", "--"]
        }
        for runuser in ["/usr/sbin/runuser", "/sbin/runuser"] where FileManager.default.isExecutableFile(atPath: runuser) {
            return [runuser, "-u", "postgres", "--"]
        }
        throw LocalPostgresError(message: "running as root, and neither setpriv nor runuser is there to switch to the postgres user")
    }

    private static let directoryPrefix = "tinyflow-postgres-"

    private static func makeDirectory() throws -> URL {
        var template = Array("/tmp/\(directoryPrefix)XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LocalPostgresError(message: "cannot create a temporary directory: errno \(errno)")
        }
        let path = String(cString: made)
        if getuid() == 0, let user = getpwnam("postgres") {
            guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw LocalPostgresError(message: "cannot give \(path) to the postgres user: errno \(errno)")
            }
        }
        chmod(path, 0o700)
        return URL(fileURLWithPath: path)
    }

    /// Removes the directories of earlier processes whose server is gone (a killed run).
    private static func removeLeftoverDirectories() {
        let fileManager = FileManager.default
        for name in (try? fileManager.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix(directoryPrefix) {
            let path = "/tmp/\(name)"
            if Registry.contains(path) { continue }
            let pidFile = "\(path)/data/postmaster.pid"
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }), kill(pid, 0) == 0 || errno == EPERM
            {
                continue  // still running: another process's server
            }
            // No running server: a directory older than a minute is a leftover (a younger one may be starting).
            let modified = (try? fileManager.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            if modified.timeIntervalSinceNow < -60 { try? fileManager.removeItem(atPath: path) }
        }
    }
}

/// Why a local PostgreSQL server could not start.
public struct LocalPostgresError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// The message.
    public var description: String { "local PostgreSQL server: \(message)" }
}

/// A TCP port on loopback that was free a moment ago.
private func freePort() throws -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw LocalPostgresError(message: "cannot create a socket: errno \(errno)") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
    }
    guard bound == 0 else { throw LocalPostgresError(message: "cannot bind a loopback port: errno \(errno)") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Every server of the process, stopped and removed at exit.
private enum Registry {
    private static let servers = Mutex<[String: URL]>([:])
    private static let installed = Mutex(false)

    static func add(_ server: LocalPostgresServer) {
        installed.withLock { installed in
            guard !installed else { return }
            installed = true
            atexit { Registry.cleanUp() }
        }
        let directory = server.directory
        servers.withLock { $0[directory.path] = directory }
    }

    static func remove(_ directory: URL) {
        _ = servers.withLock { $0.removeValue(forKey: directory.path) }
    }

    static func contains(_ path: String) -> Bool {
        servers.withLock { $0[path] != nil }
    }

    /// The server's process id, from its pid file (nil when it is not running).
    private static func pidOf(_ directory: URL) -> Int32? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("data/postmaster.pid"), encoding: .utf8) else {
            return nil
        }
        return text.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// At exit: ends each server (immediate shutdown; its data is thrown away) and removes its directory.
    static func cleanUp() {
        let all = servers.withLock { servers in
            defer { servers = [:] }
            return Array(servers.values)
        }
        for directory in all {
            if let pid = pidOf(directory), pid > 0 {
                kill(pid, SIGQUIT)
                let pidFile = directory.appendingPathComponent("data/postmaster.pid").path
                for _ in 0..<200 where FileManager.default.fileExists(atPath: pidFile) { usleep(10_000) }
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }
}
