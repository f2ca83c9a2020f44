import CRDModels
import ModuleHostAPI
import Testing

@testable import Operator

/// A report of run `run` with these counts.
private func report(
    run: String?, received: Int, delivered: Int, errored: Int = 0, expired: Int = 0, dropped: Int? = nil, sent: Int = 0,
    queued: Int? = nil
) -> NodeStatusReport {
    var counters = NodeCounters(received: received, delivered: delivered, errored: errored, expired: expired, sent: sent)
    counters.dropped = dropped
    counters.queued = queued
    return NodeStatusReport(name: "n", generation: 1, phase: .running, counters: counters, run: run)
}

/// Folds `reports` one after another into a status, as the operator writes it; `ended` is
/// given for a report whose run differs from the one before, when `withEnded`.
private func folded(_ reports: [NodeStatusReport], endedSeen: [NodeStatusReport?] = []) -> (NodeMetrics, CountedRun?) {
    var metrics: NodeMetrics?
    var counted: CountedRun?
    for (index, report) in reports.enumerated() {
        let ended = index < endedSeen.count ? endedSeen[index] : nil
        (metrics, counted) = CumulativeMetrics.fold(metrics: metrics, counted: counted, ended: ended, report: report)
    }
    return (metrics ?? NodeMetrics(), counted)
}

@Suite("Cumulative metrics: a node's counts over all its runs (issue 14)")
struct CumulativeMetricsTests {
    @Test("reports of one run replace each other's counts: nothing is added twice")
    func oneRun() {
        let (metrics, counted) = folded([
            report(run: "a", received: 5, delivered: 4, queued: 1),
            report(run: "a", received: 9, delivered: 9, sent: 9, queued: 0),
        ])
        #expect((metrics.messagesIn, metrics.delivered, metrics.messagesOut, metrics.queued) == (9, 9, 9, 0))
        #expect(metrics.lost == nil)
        #expect(counted?.run == "a")
        #expect(counted?.metrics.messagesIn == 9)
    }

    @Test("a new run adds to the runs before it; what the ended run had in and not out is lost")
    func newRunAddsAndCountsLost() {
        let (metrics, counted) = folded([
            report(run: "a", received: 100, delivered: 90, errored: 3, expired: 2, dropped: 1),
            report(run: "b", received: 10, delivered: 10),
        ])
        #expect(metrics.messagesIn == 110)
        #expect(metrics.delivered == 100)
        #expect((metrics.errors, metrics.expired, metrics.dropped) == (3, 2, 1))
        #expect(metrics.lost == 4, "100 in, 96 out when run a ended")
        #expect(metrics.messagesIn == (metrics.delivered ?? 0) + metrics.errors + metrics.expired + (metrics.dropped ?? 0) + (metrics.lost ?? 0))
        #expect(counted?.run == "b")
    }

    @Test("the ended run's last report, newer than what the status counted of it, is its last word")
    func endedRunsLastWord() {
        let last = report(run: "a", received: 120, delivered: 118)
        let (metrics, _) = folded(
            [report(run: "a", received: 100, delivered: 90), report(run: "b", received: 1, delivered: 1)],
            endedSeen: [nil, last])
        #expect(metrics.messagesIn == 121)
        #expect(metrics.delivered == 119)
        #expect(metrics.lost == 2)
    }

    @Test("counts never go down across any number of restarts, and lost adds up")
    func neverDecrease() {
        var metrics: NodeMetrics?
        var counted: CountedRun?
        var previous: Int64 = 0
        for run in 1...5 {
            for received in stride(from: 10, through: 50, by: 10) {
                (metrics, counted) = CumulativeMetrics.fold(
                    metrics: metrics, counted: counted, ended: nil,
                    report: report(run: "run-\(run)", received: received, delivered: received - 1))
                let now = metrics?.messagesIn ?? 0
                #expect(now >= previous)
                previous = now
            }
        }
        #expect(metrics?.messagesIn == 250)
        #expect(metrics?.lost == 4, "one message in flight at the end of each of the four runs that ended")
    }

    @Test("an operator that restarts goes on from the status: the same run is not counted twice")
    func operatorRestart() {
        let (written, counted) = folded([report(run: "b", received: 10, delivered: 10)])
        // A new operator has only the status it reads back.
        let (metrics, _) = CumulativeMetrics.fold(
            metrics: written, counted: counted, ended: nil, report: report(run: "b", received: 12, delivered: 12))
        #expect(metrics.messagesIn == 12)
    }

    @Test("metrics written without a counted run are the current run's; a host that names no run gives its counts alone")
    func withoutRuns() {
        let earlier = NodeMetrics(messagesIn: 50, messagesOut: 50)
        let (adopted, counted) = CumulativeMetrics.fold(
            metrics: earlier, counted: nil, ended: nil, report: report(run: "a", received: 55, delivered: 55))
        #expect(adopted.messagesIn == 55)
        #expect(counted?.run == "a")
        let (alone, none) = CumulativeMetrics.fold(
            metrics: adopted, counted: counted, ended: nil, report: report(run: nil, received: 3, delivered: 3))
        #expect(alone.messagesIn == 3)
        #expect(none == nil)
    }
}
