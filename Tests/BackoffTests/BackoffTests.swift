import Backoff
import Testing

@Suite("Backoff: jittered exponential delays")
struct BackoffDelayTests {
    @Test("delays double from the initial one up to the cap")
    func doublesUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0)
        let delays = (0..<6).map { backoff.delay(attempt: $0, random: 0.5) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test("the multiplier sets the growth")
    func multiplier() {
        let backoff = Backoff(initial: .milliseconds(10), maximum: .seconds(10), multiplier: 3, jitter: 0)
        #expect(backoff.delay(attempt: 2, random: 0) == .milliseconds(90))
    }

    @Test("jitter spreads a delay by at most its fraction either way", arguments: [0.0, 0.25, 0.5, 0.75, 1.0])
    func jitterBounds(random: Double) {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: 0.2)
        let delay = backoff.delay(attempt: 0, random: random)
        #expect(delay >= .milliseconds(800) && delay <= .milliseconds(1200))
        #expect(delay == .nanoseconds(Int64((0.8 + 0.4 * random) * 1e9)))
    }

    @Test("a huge attempt number gives the cap, not an overflow")
    func hugeAttempt() {
        let backoff = Backoff(initial: .nanoseconds(1), maximum: .seconds(30), jitter: 0)
        #expect(backoff.delay(attempt: Int.max, random: 0.5) == .seconds(30))
        #expect(backoff.delay(attempt: -3, random: 0.5) == .nanoseconds(1))
    }

    @Test("a maximum below the initial delay is raised to it")
    func maximumBelowInitial() {
        let backoff = Backoff(initial: .seconds(2), maximum: .seconds(1), jitter: 0)
        #expect(backoff.delay(attempt: 5, random: 0.5) == .seconds(2))
    }
}

@Suite("BackoffSchedule: the failures of one retried thing")
struct BackoffScheduleTests {
    let start = ContinuousClock.now

    @Test("each failure waits longer than the last")
    func grows() {
        var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(30), jitter: 0))
        var delays: [Duration] = []
        for second in 0..<4 {
            schedule.started(at: start + .seconds(second))
            delays.append(schedule.failed(at: start + .seconds(second) + .milliseconds(1), random: 0.5))
        }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(schedule.failures == 4)
    }

    @Test("a try that ran for resetAfter before failing starts the delays again")
    func healthyRunResets() {
        var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(30), jitter: 0, resetAfter: .seconds(10)))
        for _ in 0..<5 {
            schedule.started(at: start)
            _ = schedule.failed(at: start + .seconds(1), random: 0.5)
        }
        schedule.started(at: start + .seconds(20))
        #expect(schedule.failed(at: start + .seconds(30), random: 0.5) == .milliseconds(100))
        #expect(schedule.failures == 1)
    }

    @Test("a try shorter than resetAfter keeps growing")
    func shortRunKeepsGrowing() {
        var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(30), jitter: 0, resetAfter: .seconds(10)))
        schedule.started(at: start)
        _ = schedule.failed(at: start + .seconds(9), random: 0.5)
        schedule.started(at: start + .seconds(10))
        #expect(schedule.failed(at: start + .seconds(19), random: 0.5) == .milliseconds(200))
    }

    @Test("without resetAfter only reset() forgets failures")
    func explicitReset() {
        var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(30), jitter: 0))
        schedule.started(at: start)
        _ = schedule.failed(at: start + .seconds(3600), random: 0.5)
        #expect(schedule.failed(at: start + .seconds(3601), random: 0.5) == .milliseconds(200))
        schedule.reset()
        #expect(schedule.failed(at: start + .seconds(3602), random: 0.5) == .milliseconds(100))
    }
}
