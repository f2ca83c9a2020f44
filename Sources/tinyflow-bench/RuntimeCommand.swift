import ArgumentParser

struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runtime")
    func run() async throws {}
}
