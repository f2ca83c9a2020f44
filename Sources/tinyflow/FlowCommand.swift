import FlowRevisions
import ArgumentParser
import CRDModels
import Foundation
import KubernetesClient
import Operator

/// `tinyflow flow`: a flow's deploy history and rollback.
struct FlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow", abstract: "Show a TinyFlow's revisions and roll back to one.",
        subcommands: [History.self, Rollback.self])

    /// Where the API server is.
    struct Connection: ParsableArguments {
        @Option(help: "A kubeconfig file (default: .tinyflow/kubeconfig of `tinyflow up` if present, else KUBECONFIG or ~/.kube/config).")
        var kubeconfig: String?

        @Option(name: .shortAndLong, help: "The namespace of the TinyFlow.")
        var namespace: String = "default"

        func client() throws -> KubernetesClient {
            if let path = Tinyflow.kubeconfigFile(kubeconfig) {
                return try KubernetesClient(configuration: ClientConfiguration(kubeconfig: KubeConfig.read(file: path)))
            }
            return try KubernetesClient(configuration: ClientConfiguration.infer())
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a flow's revisions.")

        @Argument(help: "The TinyFlow's name.")
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            let client = try connection.client()
            defer { Task { try? await client.shutdown() } }
            let (revisions, current) = try await FlowRevisions(client: client, namespace: connection.namespace).history(of: name)
            print("REVISION  TIME                  AUTHOR              NODES  SUMMARY")
            for revision in revisions {
                let marker = revision.number == current ? "*" : " "
                let author = (revision.author ?? "-").padding(toLength: 18, withPad: " ", startingAt: 0)
                print("\(marker)\(String(revision.number).padding(toLength: 8, withPad: " ", startingAt: 0))  \(revision.time)  \(author)  \(String(revision.nodes.count).padding(toLength: 5, withPad: " ", startingAt: 0))  \(revision.summary)")
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-apply an earlier revision; it becomes a new revision.")

        @Argument(help: "The TinyFlow's name.")
        var name: String

        @Option(help: "The revision number to go back to.")
        var to: Int

        @OptionGroup var connection: Connection

        func run() async throws {
            let client = try connection.client()
            defer { Task { try? await client.shutdown() } }
            let result = try await FlowRevisions(client: client, namespace: connection.namespace).rollback(name, to: to)
            print("rolled \(name) back to revision \(to): applied \(result.applied.joined(separator: ", ")); deleted \(result.deleted.isEmpty ? "none" : result.deleted.joined(separator: ", "))")
        }
    }
}
