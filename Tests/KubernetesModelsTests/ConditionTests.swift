import KubernetesModels
import Foundation
import Testing

@Suite("Conditions")
struct ConditionTests {
    let earlier = Timestamp(Date(timeIntervalSince1970: 1_000))
    let later = Timestamp(Date(timeIntervalSince1970: 2_000))

    @Test("lastTransitionTime moves only when status flips")
    func transitionTime() {
        var conditions: [Condition] = []
        let added = conditions.set(Condition(type: "Ready", status: .false, reason: "Starting", lastTransitionTime: earlier))
        #expect(added)
        let updated = conditions.set(Condition(type: "Ready", status: .false, reason: "StillStarting", message: "waiting", lastTransitionTime: later))
        #expect(updated)
        #expect(conditions[type: "Ready"]?.lastTransitionTime == earlier)
        #expect(conditions[type: "Ready"]?.reason == "StillStarting")
        #expect(conditions[type: "Ready"]?.message == "waiting")

        let flipped = conditions.set(Condition(type: "Ready", status: .true, reason: "Running", lastTransitionTime: later))
        #expect(flipped)
        #expect(conditions[type: "Ready"]?.lastTransitionTime == later)
        #expect(conditions.isTrue("Ready"))
    }

    @Test("setting an identical condition reports no change")
    func noChange() {
        var conditions = [Condition(type: "Ready", status: .true, reason: "Running", observedGeneration: 1, lastTransitionTime: earlier)]
        let changed = conditions.set(Condition(type: "Ready", status: .true, reason: "Running", observedGeneration: 1, lastTransitionTime: later))
        #expect(!changed)
        #expect(conditions.count == 1)
    }

    @Test("conditions of different types are kept apart and removable")
    func severalTypes() {
        var conditions: [Condition] = []
        conditions.set(Condition(type: "Ready", status: .unknown, reason: "Pending"))
        conditions.set(Condition(type: "ConfigValid", status: .false, reason: "InvalidConfiguration"))
        #expect(conditions.map(\.type) == ["Ready", "ConfigValid"])
        let removed = conditions.remove(type: "Ready")
        #expect(removed)
        let changed502 = conditions.remove(type: "Ready")
        #expect(!changed502)
        #expect(conditions.map(\.type) == ["ConfigValid"])
    }

    @Test("Timestamp renders whole seconds in UTC and parses fractional ones")
    func timestamps() throws {
        let parsed = try #require(Timestamp(rfc3339: "2026-11-23T17:20:24.123456+01:00"))
        #expect(parsed.description == "2026-11-23T16:20:24Z")
        #expect(Timestamp(rfc3339: "yesterday") == nil)
    }
}
