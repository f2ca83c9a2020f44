import ArgumentParser

// Branch-local entry point so the control plane can be tried on its own; the main
// branch owns the real `tinyflow` root command and registers `ControlPlaneCommand`.
@main
struct TinyflowControlPlaneOnly: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinyflow",
        subcommands: [ControlPlaneCommand.self])
}
