import Foundation
@testable import LocalMode
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on 127.0.0.1 opened the way swift-nio opens them: without
/// `SOCK_CLOEXEC`, so an `exec` alone would pass it on. Returns the descriptor.
func inheritableListeningSocket() throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(descriptor >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0 && listen(descriptor, 16) == 0)
    try #require(fcntl(descriptor, F_GETFD) & FD_CLOEXEC == 0)
    return descriptor
}

/// The descriptors process `pid` has open, each with what it points to (`socket:[…]`, `pipe:[…]`, a path).
func openDescriptors(of pid: Int32) -> [Int32: String] {
    let directory = "/proc/\(pid)/fd"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var result: [Int32: String] = [:]
    for name in names {
        guard let descriptor = Int32(name) else { continue }
        result[descriptor] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)")) ?? "?"
    }
    return result
}

/// Whether `pid` runs `executable` yet (it has exec'd).
private func runs(_ pid: Int32, _ executable: String) -> Bool {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
    return String(decoding: data.prefix { $0 != 0 }, as: UTF8.self) == executable
}

@Suite("Child descriptors", .timeLimit(.minutes(1)))
struct ChildDescriptorTests {
    @Test("a spawned child inherits no descriptor but 0, 1 and 2, whichever way they are closed", arguments: DescriptorClosing.allCases)
    func spawnClosesInheritedDescriptors(closing: DescriptorClosing) async throws {
        let listener = try inheritableListeningSocket()
        defer { close(listener) }
        let openedBeforeSpawn = openDescriptors(of: getpid()).filter { $0.key > 2 }
        let pid = try spawn(ChildSpec(name: "sleeper", executable: "/bin/sleep", arguments: ["60"]), output: nil, closing: closing)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        try await eventually("the child runs sleep") { runs(pid, "/bin/sleep") }
        let inherited = openDescriptors(of: pid).filter { $0.key > 2 }
        switch closing {
        case .closeFrom:
            #expect(inherited.isEmpty, "\(inherited)")
        case .closeEach:
            // Only what other tests' threads opened between the listing and the spawn may
            // slip through (the race ``DescriptorClosing/closeEach`` documents); nothing that
            // was open before it, such as the listener.
            let before = Set(openedBeforeSpawn.values)
            #expect(inherited.values.allSatisfy { !before.contains($0) }, "\(inherited)")
        }
    }

    @Test("a supervised child gets its lifeline pipe, its log pipe twice and nothing else: not our listening socket")
    func supervisedChildHoldsNoSocketOfOurs() async throws {
        let listener = try inheritableListeningSocket()
        defer { close(listener) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-supervisor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let supervisor = ProcessSupervisor()
        await supervisor.start(ChildSpec(
            name: "sleeper", executable: "/bin/sleep", arguments: ["60"], logFile: directory.appendingPathComponent("sleeper.log").path))
        try await eventually("the child runs sleep") {
            guard let pid = await supervisor.pid(of: "sleeper") else { return false }
            return runs(pid, "/bin/sleep")
        }
        let pid = try #require(await supervisor.pid(of: "sleeper"))
        let descriptors = openDescriptors(of: pid)
        await supervisor.shutdown()
        #expect(descriptors.keys.sorted() == [0, 1, 2])
        #expect(descriptors[0]?.hasPrefix("pipe:") == true, "stdin is the lifeline: \(descriptors)")
        #expect(descriptors[1]?.hasPrefix("pipe:") == true)
        #expect(descriptors[2] == descriptors[1])
        #expect(descriptors[0] != descriptors[1])
    }
}
