import CRDModels
import ModuleHostAPI

/// A node's `status.metrics` over all its runs: a module host counts a node from zero
/// whenever it starts it afresh (it restarted, `tinyflow up` restarted), and the operator
/// adds the runs up. Pure, so every case is unit-tested.
///
/// `status.counted` says which run the metrics include last and with which counts, so the
/// fold needs nothing but the status it writes: an operator that restarts goes on from it.
/// When a report comes from a new run, the run before it ended: what its last known counts
/// had in and not out (not delivered, errored, expired or dropped) is added to `lost`.
enum CumulativeMetrics {
    /// The metrics and counted run after folding in `report`, from the status's `metrics`
    /// and `counted`; `ended` is the last report the operator saw of the run before, if
    /// that run ended since (its last word may be newer than what the status counted of it).
    static func fold(
        metrics: NodeMetrics?, counted: CountedRun?, ended: NodeStatusReport?, report: NodeStatusReport
    ) -> (metrics: NodeMetrics, counted: CountedRun?) {
        let now = Self.metrics(of: report.counters)
        // A host that does not name its runs: its counts alone, as before runs were counted.
        guard let run = report.run else { return (now, nil) }
        // Metrics written without a counted run (an earlier operator): they are this run's.
        guard var counted, var total = metrics else { return (now, CountedRun(run: run, metrics: now)) }
        if let ended, let endedRun = ended.run, endedRun == counted.run, endedRun != run {
            let last = Self.metrics(of: ended.counters)
            total = total.adding(last, subtracting: counted.metrics)
            counted = CountedRun(run: endedRun, metrics: last)
        }
        if counted.run == run {
            total = total.adding(now, subtracting: counted.metrics)
        } else {
            let unfinished = counted.metrics.messagesIn
                - (counted.metrics.delivered ?? 0) - counted.metrics.errors - counted.metrics.expired - (counted.metrics.dropped ?? 0)
            if unfinished > 0 { total.lost = (total.lost ?? 0) + unfinished }
            total = total.adding(now, subtracting: NodeMetrics())
        }
        // What describes the node now is the report's alone.
        total.queued = now.queued
        total.queueCapacity = now.queueCapacity
        total.backlog = now.backlog
        total.lastMessageTime = now.lastMessageTime ?? total.lastMessageTime
        return (total, CountedRun(run: run, metrics: now))
    }

    /// A report's counters as metrics.
    static func metrics(of counters: NodeCounters) -> NodeMetrics {
        NodeMetrics(
            messagesIn: Int64(counters.received), messagesOut: Int64(counters.sent), errors: Int64(counters.errored),
            expired: Int64(counters.expired), lastMessageTime: counters.lastMessageTime.map(Timestamp.init),
            queued: counters.queued.map(Int64.init), queueCapacity: counters.queueCapacity.map(Int64.init),
            backlog: counters.backlog.map(Int64.init), redelivered: counters.redelivered.map(Int64.init),
            deadLettered: counters.deadLettered.map(Int64.init), dropped: counters.dropped.map(Int64.init),
            delivered: Int64(counters.delivered))
    }
}

extension NodeMetrics {
    /// These metrics with the counts of `added` added and those of `removed` taken away
    /// (`lost` is the operator's own: kept).
    func adding(_ added: NodeMetrics, subtracting removed: NodeMetrics) -> NodeMetrics {
        func sum(_ total: Int64?, _ added: Int64?, _ removed: Int64?) -> Int64? {
            total == nil && added == nil ? nil : max(0, (total ?? 0) + (added ?? 0) - (removed ?? 0))
        }
        var result = self
        result.messagesIn = max(0, messagesIn + added.messagesIn - removed.messagesIn)
        result.messagesOut = max(0, messagesOut + added.messagesOut - removed.messagesOut)
        result.errors = max(0, errors + added.errors - removed.errors)
        result.expired = max(0, expired + added.expired - removed.expired)
        result.delivered = sum(delivered, added.delivered, removed.delivered)
        result.dropped = sum(dropped, added.dropped, removed.dropped)
        result.redelivered = sum(redelivered, added.redelivered, removed.redelivered)
        result.deadLettered = sum(deadLettered, added.deadLettered, removed.deadLettered)
        return result
    }
}
