import Doorbell
import Foundation
import TestSupport
import Testing

/// What two doorbells of one directory — as two processes sharing a file have — tell each other.
@Suite("Doorbell", .timeLimit(.minutes(1)))
struct DoorbellTests {
    /// A fresh directory for one test's doorbells.
    private func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-doorbell-tests-\(UUID().uuidString.prefix(8))").path
    }

    @Test("a ring reaches every other doorbell of the directory with its payload, and not the ringer")
    func ringReachesOthers() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (received, receiver) = AsyncStream<(String, [UInt8])>.makeStream()
        let first = try await Doorbell.open(directory: directory) { receiver.yield(("first", $0)) }
        let second = try await Doorbell.open(directory: directory) { receiver.yield(("second", $0)) }
        let third = try await Doorbell.open(directory: directory) { receiver.yield(("third", $0)) }
        first.ring(Array("default/counter:in".utf8))
        var heard: [String: [UInt8]] = [:]
        for await (name, payload) in received {
            heard[name] = payload
            if heard.count == 2 { break }
        }
        #expect(heard == ["second": Array("default/counter:in".utf8), "third": Array("default/counter:in".utf8)])
        // The ringer heard nothing: a ring of the second reaches the first, and is the first thing it hears.
        second.ring([1])
        for await (name, payload) in received where name == "first" {
            #expect(payload == [1])
            break
        }
        for doorbell in [first, second, third] { await doorbell.close() }
    }

    @Test("a socket nobody listens on (its process died) is removed by the next ring, and rings go on")
    func deadSocketsAreRemoved() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (received, receiver) = AsyncStream<[UInt8]>.makeStream()
        let listener = try await Doorbell.open(directory: directory) { receiver.yield($0) }
        let dead = try await Doorbell.open(directory: directory) { _ in }
        // A killed process leaves its socket file behind: closing the channel without removing it is the same.
        let deadPath = dead.path
        await dead.close()
        FileManager.default.createFile(atPath: deadPath, contents: nil)
        let ringer = try await Doorbell.open(directory: directory) { _ in }
        ringer.ring([7])
        for await payload in received {
            #expect(payload == [7])
            break
        }
        // The failed send to the dead file removes it (asynchronously, after the send failed).
        try await eventually("the dead socket file removed") { !FileManager.default.fileExists(atPath: deadPath) }
        await listener.close()
        await ringer.close()
        #expect(!FileManager.default.fileExists(atPath: listener.path))
    }

    @Test("the directory is beside the file when socket paths fit, else in the temporary directory and stable")
    func directoryForFile() {
        #expect(Doorbell.directory(sharing: "/var/lib/tinyflow/context.db") == "/var/lib/tinyflow/context.db-doorbell")
        let long = "/" + String(repeating: "deep/", count: 30) + "context.db"
        let chosen = Doorbell.directory(sharing: long)
        #expect(chosen.hasPrefix(FileManager.default.temporaryDirectory.path))
        #expect(chosen == Doorbell.directory(sharing: long))
        #expect(chosen != Doorbell.directory(sharing: long + "2"))
    }
}
