import ArgumentParser
import BearerTokens
import Foundation
import GRPCCore
import KubernetesClient
import LocalMode
import Logging

/// Where the API server of a running installation is, and the namespace: the options of
/// `tinyflow flow`, `tinyflow context` and `tinyflow dlq`. Without `--kubeconfig`, the
/// control plane of a `tinyflow up` in `--data` when it runs, else KUBECONFIG or ~/.kube/config.
struct APIServerOptions: ParsableArguments {
    @Option(help: "A kubeconfig file (default: <data>/kubeconfig of `tinyflow up` if present, else KUBECONFIG or ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The data directory `tinyflow up` runs with.")
    var data: String = ".tinyflow"

    @Option(name: .shortAndLong, help: "The namespace.")
    var namespace: String = "default"

    /// The kubeconfig of the `tinyflow up` in `--data`, when no `--kubeconfig` was given and it exists.
    var localKubeconfig: String? {
        guard kubeconfig == nil else { return nil }
        let path = LocalModeOptions.kubeconfigPath(dataDirectory: URL(fileURLWithPath: data))
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// How to reach the API server.
    func clientConfiguration() throws -> ClientConfiguration {
        if let path = kubeconfig ?? localKubeconfig {
            return try ClientConfiguration(kubeconfig: KubeConfig.read(file: path))
        }
        return try ClientConfiguration.infer()
    }

    /// Runs `body` with a client of the API server, closed afterwards.
    func withClient<T: Sendable>(_ body: (KubernetesClient) async throws -> T) async throws -> T {
        try await KubernetesClient.withClient(configuration: try clientConfiguration(), body)
    }
}

/// ``APIServerOptions`` plus what the module hosts require of a caller: the options of the
/// commands that ask a module host (`tinyflow context`, `tinyflow dlq`).
struct ModuleHostAccessOptions: ParsableArguments {
    @OptionGroup var apiServer: APIServerOptions

    @Option(help: "A file with the bearer token the module hosts require (default: <data>/module-token with <data>/kubeconfig).")
    var moduleTokenFile: String?

    /// The namespace.
    var namespace: String { apiServer.namespace }

    /// The token to send: `--module-token-file`'s, else that of the `tinyflow up` whose
    /// kubeconfig is used, else none.
    func moduleToken() throws -> String? {
        let local = apiServer.localKubeconfig.map { _ in
            LocalModeOptions.moduleTokenPath(dataDirectory: URL(fileURLWithPath: apiServer.data))
        }
        return try (moduleTokenFile ?? local).map(BearerTokenFile.read)
    }

    /// Runs `body` with a client of the API server and the module hosts' token; a failed call
    /// to a host ends with the host's reason alone (without gRPC's framing).
    func withModuleHosts<T: Sendable>(_ body: (KubernetesClient, String?) async throws -> T) async throws -> T {
        Tinyflow.bootstrapObservability(level: .warning)
        let token = try moduleToken()
        do {
            return try await apiServer.withClient { client in try await body(client, token) }
        } catch let error as RPCError {
            throw CommandError(message: error.message)
        }
    }
}

/// Why a command failed once its arguments were fine: printed without the usage text.
struct CommandError: Error, CustomStringConvertible {
    /// What went wrong.
    var message: String
    /// The message.
    var description: String { message }
}
