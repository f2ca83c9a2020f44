@testable import ContextStoreSQLite
import Testing

@Suite("SQLite lock wait")
struct LockWaitTests {
    @Test("waits grow from 1 ms to at most 50 ms (± half), never past the deadline, and end at it")
    func delays() {
        let start = ContinuousClock.now
        var wait = LockWait(timeout: .milliseconds(200), start: start)
        var now = start
        var delays: [Duration] = []
        while let delay = wait.nextDelay(now: now, random: 0.5) {
            delays.append(delay)
            now += delay
        }
        #expect(delays.prefix(3) == [.milliseconds(1), .milliseconds(2), .milliseconds(4)])
        #expect(delays.allSatisfy { $0 <= .milliseconds(50) })
        #expect(now == start + .milliseconds(200), "the last try happens at the deadline")
        var late = LockWait(timeout: .milliseconds(10), start: start)
        #expect(late.nextDelay(now: start + .milliseconds(10), random: 0.5) == nil)
        var spread = LockWait(timeout: .seconds(1), start: start)
        #expect(spread.nextDelay(now: start, random: 0) == .microseconds(500))
    }
}
