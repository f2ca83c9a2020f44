import ComponentKit
import Greeter
import Testing

@Suite struct GreetTests {
    @Test func declaresItsPorts() {
        #expect(Greet.info.name == "greet")
        #expect(Greet.ports.map(\.name).contains("in"))
        #expect(Greet.ports.map(\.name).contains("out"))
    }
}
