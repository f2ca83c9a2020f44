import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The inode of the socket listening on 127.0.0.1:`port` (from /proc/net/tcp), if any.
///
/// Read whole (``procFileText(_:)``): a loaded test run has far more than a page of sockets.
/// The kernel still hands the table out a page at a time, keeping only a position between
/// reads: when other sockets open or close meanwhile, one read can skip a row. Callers that
/// expect a listener look it up until a read finds it.
private func listeningSocketInode(port: Int) -> String? {
    guard let table = procFileText("/proc/net/tcp") else { return nil }
    let local = String(format: "0100007F:%04X", port)
    for row in table.split(separator: "\n").dropFirst() {
        let fields = row.split(separator: " ")
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        if fields.count > 9, fields[1] == local, fields[3] == "0A" { return String(fields[9]) }
    }
    return nil
}

/// Whether a TCP connection to 127.0.0.1:`port` is refused right now (nothing listens). A
/// connection accepted into a backlog, or one that times out, is not.
private func connectionRefused(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == -1 && errno == ECONNREFUSED
}

/// They run the `tinyflow` product: without it they fail and say how to build it (``MissingBinary``).
@Suite("tinyflow up: files and processes", .serialized, .timeLimit(.minutes(1)))
struct UpFilesAndProcessesTests {
    @Test("after SIGKILL of tinyflow up its control-plane port is refused: no child holds it, and the children stop too; every file it wrote is 0600 in 0700 directories; debug nodes' messages reach the console, not the logs")
    func killedUpLeavesNoListenerAndPrivateFiles() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        // As a umask of 022 would leave it.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data.path)
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        var children: [Int32] = []
        defer {
            up.killIfRunning()
            for child in children { kill(child, SIGKILL) }
        }

        try await eventually("the control plane is ready", timeout: .seconds(30), context: { up.output }) {
            up.output.contains("control plane ready at https://127.0.0.1:")
        }
        let match = try #require(up.output.firstMatch(of: /control plane ready at https:\/\/127\.0\.0\.1:(\d+)/))
        let port = try #require(Int(match.1))
        try await eventually("a greeting reaches the console", timeout: .seconds(40), context: { up.output }) {
            up.output.contains("[hello-debug] ") && up.output.contains("hello, world #")
        }
        let host = try #require(up.child(running: "module-host"))
        let operatorProcess = try #require(up.child(running: "operator"))
        children = [host, operatorProcess]

        // The debug node kept the greetings for the console and wrote none to its host's log.
        let hostLog = data.appendingPathComponent("logs/module-common.log").path
        #expect(FileManager.default.fileExists(atPath: hostLog))
        #expect(!((try? String(contentsOfFile: hostLog, encoding: .utf8)) ?? "").contains("hello, world #"))

        // Everything under the data directory is the user's only: state.db and its WAL (Secrets),
        // the token, the TLS key, the kubeconfig, context.db, the children's logs.
        #expect(octal(permissions(of: data.path)) == "0700")
        let entries = permissionsBelow(data)
        for required in ["control-plane/state.db", "control-plane/state.db-wal", "control-plane/token", "control-plane/tls.key",
                         "kubeconfig", "module-token", "context.db", "logs/module-common.log", "logs/operator.log"] {
            #expect(entries.contains { $0.path == data.path + "/" + required }, "\(required) exists")
        }
        for entry in entries {
            #expect(octal(entry.mode) == (entry.isDirectory ? "0700" : "0600"), "\(entry.path)")
        }

        // No child holds the control plane's listening socket.
        var found: String?
        try await eventually("a read of /proc/net/tcp shows the listener on port \(port)", timeout: .seconds(5)) {
            found = listeningSocketInode(port: port)
            return found != nil
        }
        let inode = try #require(found)
        for child in children {
            let held = openDescriptors(of: child).values.filter { $0 == "socket:[\(inode)]" }
            #expect(held.isEmpty, "child \(child) holds the control plane's listening socket")
        }

        kill(up.process.processIdentifier, SIGKILL)
        try await eventually("connecting to the control plane's port is refused", timeout: .seconds(10)) {
            connectionRefused(port: port)
        }
        // Their lifeline (stdin) closed with tinyflow up: the module host and the operator stop.
        let orphans = children
        try await eventually("the children exit with tinyflow up", timeout: .seconds(20)) {
            orphans.allSatisfy(hasExited)
        }
    }
}

/// Whether process `pid` is gone or has exited and waits to be reaped (a zombie: its parent
/// died, and whoever adopted it may not reap it at once).
private func hasExited(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    // "pid (name) STATE …": the state follows the last ')'.
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state == "Z" || state == "X"
}
