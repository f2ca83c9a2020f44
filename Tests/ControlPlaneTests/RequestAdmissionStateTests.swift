@testable import ControlPlane
import Testing

@Suite("Request admission budgets")
struct RequestAdmissionStateTests {
    static var limits: ControlPlaneLimits {
        var limits = ControlPlaneLimits()
        limits.maxReadRequestsInFlight = 2
        limits.maxMutatingRequestsInFlight = 1
        limits.maxWatchesPerClient = 2
        limits.maxWatches = 3
        return limits
    }

    @Test("reads, writes and each client's watches have budgets of their own; released requests free their place")
    func budgets() {
        var state = RequestAdmissionState(limits: Self.limits)
        func admit(_ requestClass: RequestClass) -> Bool { state.admit(requestClass) }
        #expect(admit(.read))
        #expect(admit(.read))
        #expect(!admit(.read))
        #expect(admit(.mutating))
        #expect(!admit(.mutating))
        state.release(.read)
        #expect(admit(.read))
        #expect(admit(.watch(client: "a")))
        #expect(admit(.watch(client: "a")))
        #expect(!admit(.watch(client: "a")), "a's own budget")
        #expect(admit(.watch(client: "b")))
        #expect(!admit(.watch(client: "c")), "all clients together")
        state.release(.watch(client: "a"))
        #expect(admit(.watch(client: "c")))
        // Releasing what was never admitted changes nothing.
        state.release(.watch(client: "nobody"))
        #expect(!admit(.watch(client: "d")))
    }
}
