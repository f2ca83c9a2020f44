import ArgumentParser
import ControlPlane

/// The control plane's limits on the command line of `tinyflow control-plane` and
/// `tinyflow up`, named after kube-apiserver's flags where it has one.
struct ControlPlaneLimitOptions: ParsableArguments {
    private static let defaults = ControlPlaneLimits()

    @Option(help: ArgumentHelp("Largest request body read; larger ones get 413.", valueName: "bytes"))
    var maxRequestBodyBytes = defaults.maxRequestBodyBytes

    @Option(help: ArgumentHelp("Largest object stored, as JSON; larger ones get 422.", valueName: "bytes"))
    var maxObjectBytes = defaults.maxObjectBytes

    @Option(help: ArgumentHelp("Reads served at once (watches apart); more get 429 with Retry-After.", valueName: "count"))
    var maxRequestsInflight = defaults.maxReadRequestsInFlight

    @Option(help: ArgumentHelp("Writes served at once; more get 429 with Retry-After.", valueName: "count"))
    var maxMutatingRequestsInflight = defaults.maxMutatingRequestsInFlight

    @Option(help: ArgumentHelp("Watches one client (User-Agent) may hold open; more get 429.", valueName: "count"))
    var maxWatchesPerClient = defaults.maxWatchesPerClient

    @Option(help: ArgumentHelp("Watches open at once, all clients together; more get 429.", valueName: "count"))
    var maxWatches = defaults.maxWatches

    @Option(help: ArgumentHelp("Seconds a request other than a watch may take before it is answered 504.", valueName: "seconds"))
    var requestTimeout = 60

    func validate() throws {
        for (flag, value) in [("--max-request-body-bytes", maxRequestBodyBytes), ("--max-object-bytes", maxObjectBytes),
                              ("--max-requests-inflight", maxRequestsInflight), ("--max-mutating-requests-inflight", maxMutatingRequestsInflight),
                              ("--max-watches-per-client", maxWatchesPerClient), ("--max-watches", maxWatches),
                              ("--request-timeout", requestTimeout)] where value < 1 {
            throw ValidationError("\(flag): expected 1 or more, got \(value)")
        }
        guard maxObjectBytes <= maxRequestBodyBytes else {
            throw ValidationError("--max-object-bytes (\(maxObjectBytes)) may not be larger than --max-request-body-bytes (\(maxRequestBodyBytes))")
        }
    }

    /// The limits these options give.
    var limits: ControlPlaneLimits {
        var limits = ControlPlaneLimits()
        limits.maxRequestBodyBytes = maxRequestBodyBytes
        limits.maxObjectBytes = maxObjectBytes
        limits.maxReadRequestsInFlight = maxRequestsInflight
        limits.maxMutatingRequestsInFlight = maxMutatingRequestsInflight
        limits.maxWatchesPerClient = maxWatchesPerClient
        limits.maxWatches = maxWatches
        limits.requestTimeout = .seconds(requestTimeout)
        return limits
    }
}
