import CRDModels
import Testing

@Suite("Durations")
struct DurationTests {
    @Test("durations parse the Kubernetes way")
    func durations() {
        #expect(parseDuration("250ms") == .milliseconds(250))
        #expect(parseDuration("1m30s") == .seconds(90))
        #expect(parseDuration("1.5h") == .seconds(5400))
        #expect(parseDuration("10") == nil)
        #expect(parseDuration("5x") == nil)
    }
}
