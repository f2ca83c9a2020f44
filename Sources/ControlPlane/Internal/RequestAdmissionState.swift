/// Which of the control plane's in-flight budgets a request draws on.
enum RequestClass: Sendable, Hashable {
    /// `GET`/`HEAD` other than a watch.
    case read
    /// Anything that may change state.
    case mutating
    /// A watch stream of the client named (its `User-Agent`).
    case watch(client: String)
}

/// How many requests of each class are being served, and whether another may start:
/// the pure state behind ``RequestAdmission``.
struct RequestAdmissionState: Sendable {
    let limits: ControlPlaneLimits
    private(set) var reads = 0
    private(set) var mutations = 0
    private(set) var watches: [String: Int] = [:]
    private(set) var openWatches = 0

    init(limits: ControlPlaneLimits) {
        self.limits = limits
    }

    /// Counts a request of `requestClass` in, unless its budget is spent; `false` then.
    mutating func admit(_ requestClass: RequestClass) -> Bool {
        switch requestClass {
        case .read:
            guard reads < limits.maxReadRequestsInFlight else { return false }
            reads += 1
        case .mutating:
            guard mutations < limits.maxMutatingRequestsInFlight else { return false }
            mutations += 1
        case .watch(let client):
            let open = watches[client, default: 0]
            guard open < limits.maxWatchesPerClient, openWatches < limits.maxWatches else { return false }
            watches[client] = open + 1
            openWatches += 1
        }
        return true
    }

    /// Counts a request admitted earlier out.
    mutating func release(_ requestClass: RequestClass) {
        switch requestClass {
        case .read: reads = max(0, reads - 1)
        case .mutating: mutations = max(0, mutations - 1)
        case .watch(let client):
            guard let open = watches[client] else { return }
            watches[client] = open > 1 ? open - 1 : nil
            openWatches -= 1
        }
    }
}
