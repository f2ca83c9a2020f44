import ArgumentParser
import ControlPlane
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `tinyflow control-plane`: serves the embedded Kubernetes API until SIGTERM/SIGINT.
struct ControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Run the embedded Kubernetes-API control plane (no cluster needed).",
        discussion: "State is kept in SQLite under --data and survives restarts. A bearer token is generated on first start and written, with the server address, into the kubeconfig at --kubeconfig.")

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen: String = "127.0.0.1:6443"

    @Option(help: "Directory for the control plane's state.")
    var data: String = ".tinyflow/control-plane"

    @Option(help: "Where to write a kubeconfig for this control plane.")
    var kubeconfig: String = ".tinyflow/kubeconfig"

    @Flag(inversion: .prefixedNo, help: "Serve HTTPS with a self-signed certificate (kubectl sends tokens only over TLS).")
    var tls: Bool = true

    @Flag(help: "Acknowledge writes once the OS has them instead of after fsync (survives a crash of this process, not of the machine; much faster).")
    var noFsync: Bool = false

    @OptionGroup(title: "Limits")
    var limits: ControlPlaneLimitOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let logger = Logger(label: "tinyflow.control-plane")
        var configuration = ControlPlaneConfiguration(dataDirectory: URL(fileURLWithPath: data), logger: logger)
        configuration.host = host
        configuration.port = port
        configuration.kubeconfigPath = kubeconfig
        configuration.tls = tls
        configuration.durability = noFsync ? .processCrash : .fsync
        configuration.limits = limits.limits
        let kubeconfigPath = kubeconfig
        let service = ControlPlaneService(configuration: configuration) { plane in
            let line = "control plane listening on \(plane.baseURL.absoluteString); kubeconfig written to \(kubeconfigPath)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        let group = ServiceGroup(configuration: .init(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
