@testable import AsyncPrimitives
import Synchronization
import TestSupport
import Testing

/// The group commit the message stores' enqueues share, without a database: its state
/// machine step by step, and the primitive with tasks.
@Suite("Group commit")
struct GroupCommitTests {
    typealias Machine = GroupCommitStateMachine<String, Int>

    @Test("a submission that finds nothing committing leads a batch of itself at once")
    func idleSubmissionLeads() {
        var machine = Machine(maxBatch: 4)
        guard case .lead = machine.submit("a", waiter: 1) else { Issue.record("did not lead"); return }
        machine.checkInvariants()
        #expect(machine.takeBatch().map(\.item) == ["a"])
        machine.checkInvariants()
        #expect(machine.isCommitting)
        guard case .idle = machine.batchFinished() else { Issue.record("did not go idle"); return }
        machine.checkInvariants()
        #expect(!machine.isCommitting)
    }

    @Test("submissions arriving during a commit wait, and the first of them leads the next batch, in arrival order")
    func waitingSubmissionsFormTheNextBatch() {
        var machine = Machine(maxBatch: 10)
        _ = machine.submit("leader", waiter: 0)
        _ = machine.takeBatch()
        for index in 1...3 {
            guard case .wait = machine.submit("w\(index)", waiter: index) else { Issue.record("w\(index) did not wait"); return }
            machine.checkInvariants()
        }
        guard case .handOver(let leader) = machine.batchFinished() else { Issue.record("no hand-over"); return }
        machine.checkInvariants()
        #expect(leader == 1, "the first waiter leads")
        #expect(machine.takeBatch().map(\.item) == ["w1", "w2", "w3"])
        #expect(machine.isCommitting && machine.queued.isEmpty)
        guard case .idle = machine.batchFinished() else { Issue.record("did not go idle"); return }
    }

    @Test("a leader takes its batch when it is ready: what queued while it was being resumed rides along")
    func leaderTakesItsBatchLate() {
        var machine = Machine(maxBatch: 10)
        _ = machine.submit("first", waiter: 0)
        _ = machine.takeBatch()
        _ = machine.submit("w1", waiter: 1)
        guard case .handOver(let leader) = machine.batchFinished() else { Issue.record("no hand-over"); return }
        #expect(leader == 1)
        // Submitted after the hand-over, before the new leader took its batch.
        guard case .wait = machine.submit("w2", waiter: 2) else { Issue.record("w2 did not wait"); return }
        machine.checkInvariants()
        #expect(machine.takeBatch().map(\.item) == ["w1", "w2"])
        machine.checkInvariants()
    }

    @Test("no batch takes more than maxBatch submissions; the rest lead the batches after")
    func batchesAreBounded() {
        var machine = Machine(maxBatch: 2)
        _ = machine.submit("leader", waiter: 0)
        _ = machine.takeBatch()
        for index in 1...5 { _ = machine.submit("w\(index)", waiter: index) }
        var batches: [[String]] = []
        while case .handOver = machine.batchFinished() {
            machine.checkInvariants()
            batches.append(machine.takeBatch().map(\.item))
            machine.checkInvariants()
        }
        machine.checkInvariants()
        #expect(batches == [["w1", "w2"], ["w3", "w4"], ["w5"]])
        #expect(!machine.isCommitting)
    }

    @Test("concurrent submissions share commits and each gets its own outcome", .timeLimit(.minutes(1)))
    func concurrentSubmissionsShareCommits() async throws {
        let groupCommit = GroupCommit<Int, Int>(maxBatch: 64)
        let gate = Gate()
        let commits = Mutex<[[Int]]>([])
        let commit: GroupCommit<Int, Int>.Commit = { items in
            commits.withLock { $0.append(items) }
            await gate.wait()
            return items.map { $0.isMultiple(of: 2) ? .success($0 * 10) : .failure(Odd(value: $0)) }
        }
        try await withThrowingTaskGroup(of: (Int, Result<Int, Odd>).self) { group in
            // The first submission leads and holds its commit open until everyone else queued.
            group.addTask { (0, await Self.outcome(of: 0, in: groupCommit, commit)) }
            try await eventually("the first commit began") { commits.withLock { $0.count } == 1 }
            for item in 1..<100 {
                group.addTask { (item, await Self.outcome(of: item, in: groupCommit, commit)) }
            }
            try await eventually("99 submissions queued behind it") { groupCommit.queuedCount == 99 }
            gate.open()
            var outcomes: [Int: Result<Int, Odd>] = [:]
            for try await (item, outcome) in group { outcomes[item] = outcome }
            for item in 0..<100 {
                #expect(outcomes[item] == (item.isMultiple(of: 2) ? .success(item * 10) : .failure(Odd(value: item))))
            }
        }
        let batches = commits.withLock { $0 }
        #expect(batches.map(\.count) == [1, 64, 35], "the queued submissions committed in two batches of at most 64")
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<100))
    }

    private static func outcome(
        of item: Int, in groupCommit: GroupCommit<Int, Int>, _ commit: @escaping GroupCommit<Int, Int>.Commit
    ) async -> Result<Int, Odd> {
        do {
            return .success(try await groupCommit.submit(item, committing: commit))
        } catch let error as Odd {
            return .failure(error)
        } catch {
            Issue.record("unexpected \(error)")
            return .failure(Odd(value: -1))
        }
    }

    @Test("a leader whose task is cancelled still commits the others of its batch", .timeLimit(.minutes(1)))
    func cancelledLeaderCommitsItsBatch() async throws {
        let groupCommit = GroupCommit<Int, Int>(maxBatch: 64)
        let firstGate = Gate()
        let secondGate = Gate()
        let started = Mutex(0)
        let commit: GroupCommit<Int, Int>.Commit = { items in
            started.withLock { $0 += 1 }
            await (items.contains(0) ? firstGate : secondGate).wait()
            try Task.checkCancellation()
            return items.map { .success($0) }
        }
        let first = Task { try await groupCommit.submit(0, committing: commit) }
        try await eventually("the first commit began") { started.withLock { $0 } == 1 }
        let second = Task { try await groupCommit.submit(1, committing: commit) }
        try await eventually("the second submission queued") { groupCommit.queuedCount == 1 }
        let third = Task { try await groupCommit.submit(2, committing: commit) }
        try await eventually("the third submission queued") { groupCommit.queuedCount == 2 }
        firstGate.open()
        #expect(try await first.value == 0)
        // The second leads the next batch, with the third: its task is cancelled mid-commit.
        try await eventually("the second commit began") { started.withLock { $0 } == 2 }
        second.cancel()
        secondGate.open()
        #expect(try await third.value == 2)
        #expect(try await second.value == 1, "its commit ran in a task of its own")
    }

    struct Odd: Error, Equatable {
        var value: Int
    }
}

/// A gate tasks wait at until it opens (once, for good).
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
