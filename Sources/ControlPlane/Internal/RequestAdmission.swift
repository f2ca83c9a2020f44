import Synchronization

/// Admits requests within the in-flight budgets of ``ControlPlaneLimits``: a request is
/// counted from before its body is read until its answer (a watch: its stream) is gone.
final class RequestAdmission: Sendable {
    private let state: Mutex<RequestAdmissionState>

    init(limits: ControlPlaneLimits) {
        state = Mutex(RequestAdmissionState(limits: limits))
    }

    /// A permit for a request of `requestClass`, or `nil` if its budget is spent. The
    /// request counts until the permit is released (when the last reference to it goes).
    func admit(_ requestClass: RequestClass) -> RequestPermit? {
        guard state.withLock({ $0.admit(requestClass) }) else { return nil }
        return RequestPermit(admission: self, requestClass: requestClass)
    }

    fileprivate func release(_ requestClass: RequestClass) {
        state.withLock { $0.release(requestClass) }
    }

    /// Requests of each class being served now.
    var inFlight: (reads: Int, mutations: Int, watches: Int) {
        state.withLock { ($0.reads, $0.mutations, $0.watches.values.reduce(0, +)) }
    }
}

/// One admitted request. Released when it is deallocated, so an answer that is dropped
/// unsent (a client gone before its watch stream started) cannot leak its count.
final class RequestPermit: Sendable {
    private let admission: RequestAdmission
    private let requestClass: RequestClass

    fileprivate init(admission: RequestAdmission, requestClass: RequestClass) {
        self.admission = admission
        self.requestClass = requestClass
    }

    deinit { admission.release(requestClass) }
}
