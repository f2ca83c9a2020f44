/// What one request may cost the control plane and how many it serves at once: its
/// defence against hostile or runaway clients. The defaults are kube-apiserver's and
/// etcd's, so a manifest that a cluster accepts is accepted here and one it refuses is
/// refused here too.
public struct ControlPlaneLimits: Sendable, Hashable {
    /// The largest request body read; larger ones get `413` before they are read
    /// (kube-apiserver's 3 MiB).
    public var maxRequestBodyBytes = 3 * 1024 * 1024
    /// The largest object stored, as JSON; larger ones get `422` (etcd's
    /// `--max-request-bytes`, 1.5 MiB).
    public var maxObjectBytes = 1_572_864
    /// Reads (`GET`, `HEAD`; watches apart) served at once; more get `429` with
    /// `Retry-After` (kube-apiserver's `--max-requests-inflight`).
    public var maxReadRequestsInFlight = 400
    /// Writes served at once; more get `429` with `Retry-After`
    /// (`--max-mutating-requests-inflight`).
    public var maxMutatingRequestsInFlight = 200
    /// Watches one client (one `User-Agent`) may hold open; more get `429`. Every caller
    /// holds the bearer token, so this keeps a runaway client from crowding out the others;
    /// ``maxWatches`` bounds them all.
    public var maxWatchesPerClient = 500
    /// Watches open at once, all clients together; more get `429`.
    public var maxWatches = 5_000
    /// How long a request other than a watch may take before it is answered `504`
    /// (`--request-timeout`). It covers the wait for the disk; a request may still be
    /// applied after its timeout, as with kube-apiserver.
    public var requestTimeout: Duration = .seconds(60)
    /// The largest response the service proxy (`services/NAME:PORT/proxy/…`) passes on from
    /// a backend; a larger one is answered `502` instead. The request's body is bounded by
    /// ``maxRequestBodyBytes`` and the whole exchange by ``requestTimeout`` (`504`).
    public var maxProxyResponseBytes = 8 * 1024 * 1024
    /// The `Retry-After` a refused request is told to wait, in seconds.
    public var retryAfterSeconds = 1

    /// The defaults.
    public init() {}
}
