import ArgumentParser

/// `tinyflow-bench`: release-built benchmarks that print one JSON line per figure.
@main
struct TinyflowBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinyflow-bench",
        abstract: "Measure Tinyflow's performance targets and print one JSON line per figure.",
        subcommands: [
            RuntimeCommand.self, OperatorBenchCommand.self, OperatorProcessCommand.self, ContextBenchCommand.self,
            DurableBenchCommand.self, DurableHostCommand.self,
        ]
    )
}
