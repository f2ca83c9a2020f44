import ComponentKit
import Foundation
import ModuleHostAPI
import Testing

@testable import ModuleHost

@Suite("Retry decision")
struct RetryDecisionTests {
    struct Transient: Error {}
    struct Fatal: Error {}
    struct Described: Error, CustomStringConvertible {
        var description: String { "quota exceeded" }
    }

    private let now = Date(timeIntervalSince1970: 1_000_000)

    private func decide(
        _ policy: RetryPolicy, _ error: any Error = Transient(), attempt: Int, elapsed: Duration = .zero, deadline: Date? = nil
    ) -> RetryDecision.Outcome {
        RetryDecision(policy: policy).afterFailure(error, attempt: attempt, elapsed: elapsed, now: now, deadline: deadline)
    }

    @Test("a message too large to cross modules is not retried: sending it again cannot succeed")
    func tooLargeIsNotRetried() {
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: "100ms", backoffCoefficient: 2, maxDelay: "1s")
        let tooLarge = TransportError.messageTooLarge(module: "m", messageID: "id", bytes: 5_000_000, limit: 4_194_304)
        #expect(decide(policy, tooLarge, attempt: 1) == .giveUp)
        let batch = BatchSendError(count: 2, failures: [.init(index: 1, messageID: "id", error: tooLarge)])
        #expect(decide(policy, batch, attempt: 1) == .giveUp)
        #expect(decide(policy, TransportError.unavailable(module: "m", reason: "down"), attempt: 1) == .retry(after: .milliseconds(100)))
    }

    @Test("waits grow by the coefficient from the initial delay, capped at the maximum, without jitter")
    func delays() {
        let decision = RetryDecision(policy: RetryPolicy(maxAttempts: 10, initialDelay: "100ms", backoffCoefficient: 3, maxDelay: "1s"))
        let delays = (1...5).map { decision.delay(afterAttempt: $0) }
        #expect(delays == [.milliseconds(100), .milliseconds(300), .milliseconds(900), .seconds(1), .seconds(1)])
    }

    @Test("a failure is retried after the attempt's delay until the attempts are used up")
    func attemptsRunOut() {
        let policy = RetryPolicy(maxAttempts: 3, initialDelay: "10ms", maxDelay: "1s")
        #expect(decide(policy, attempt: 1) == .retry(after: .milliseconds(10)))
        #expect(decide(policy, attempt: 2) == .retry(after: .milliseconds(20)))
        #expect(decide(policy, attempt: 3) == .giveUp)
    }

    @Test("errors named in nonRetryableErrors, by type or by description, and cancellation are not retried")
    func nonRetryable() {
        let policy = RetryPolicy(maxAttempts: 5, nonRetryableErrors: ["Fatal", "quota exceeded"])
        #expect(decide(policy, Fatal(), attempt: 1) == .giveUp)
        #expect(decide(policy, Described(), attempt: 1) == .giveUp)
        #expect(decide(policy, CancellationError(), attempt: 1) == .giveUp)
        #expect(decide(policy, Transient(), attempt: 1) != .giveUp)
    }

    @Test("no retry whose wait would end past the policy's timeout, counted from the first attempt")
    func timeout() {
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: "100ms", maxDelay: "1s", timeout: "1s")
        #expect(decide(policy, attempt: 1, elapsed: .milliseconds(900)) == .retry(after: .milliseconds(100)))
        #expect(decide(policy, attempt: 1, elapsed: .milliseconds(901)) == .giveUp)
    }

    @Test("no retry whose wait would end at or past the message's deadline")
    func deadline() {
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: "100ms", maxDelay: "1s")
        #expect(decide(policy, attempt: 1, deadline: now.addingTimeInterval(0.2)) == .retry(after: .milliseconds(100)))
        #expect(decide(policy, attempt: 1, deadline: now.addingTimeInterval(0.1)) == .giveUp)
        #expect(decide(policy, attempt: 1, deadline: now) == .giveUp)
    }

    @Test("durations that do not parse take the defaults: 100 ms, at most 10 s, no timeout")
    func defaults() {
        let decision = RetryDecision(policy: RetryPolicy(maxAttempts: 20, initialDelay: "soon", maxDelay: "later", timeout: "never"))
        #expect(decision.delay(afterAttempt: 1) == .milliseconds(100))
        #expect(decision.delay(afterAttempt: 19) == .seconds(10))
        #expect(decision.timeout == nil)
    }
}
