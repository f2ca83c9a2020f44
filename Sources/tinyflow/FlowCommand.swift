import FlowRevisions
import ArgumentParser
import CRDModels
import Foundation
import KubernetesClient

/// `tinyflow flow`: a flow's deploy history and rollback, and pausing and resuming it.
struct FlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow", abstract: "Show a TinyFlow's revisions and roll back to one; pause and resume it.",
        subcommands: [History.self, Rollback.self, Pause.self, Resume.self])

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a flow's revisions.")

        @Argument(help: "The TinyFlow's name.")
        var name: String

        @OptionGroup var connection: APIServerOptions

        func run() async throws {
            let (revisions, current) = try await connection.withClient { client in
                try await FlowRevisions(client: client, namespace: connection.namespace).history(of: name)
            }
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

        @OptionGroup var connection: APIServerOptions

        func run() async throws {
            let result = try await connection.withClient { client in
                try await FlowRevisions(client: client, namespace: connection.namespace).rollback(name, to: to)
            }
            print("rolled \(name) back to revision \(to): applied \(result.applied.joined(separator: ", ")); deleted \(result.deleted.isEmpty ? "none" : result.deleted.joined(separator: ", "))")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a flow: its sources stop and its durable edges hold their messages until it is resumed.")

        @Argument(help: "The TinyFlow's name.")
        var name: String

        @OptionGroup var connection: APIServerOptions

        func run() async throws {
            _ = try await connection.withClient { client in
                try await FlowPause(client: client, namespace: connection.namespace).setPaused(true, flow: name)
            }
            print("flow \(name) paused")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused flow: its sources start again and its durable edges deliver what they held.")

        @Argument(help: "The TinyFlow's name.")
        var name: String

        @OptionGroup var connection: APIServerOptions

        func run() async throws {
            _ = try await connection.withClient { client in
                try await FlowPause(client: client, namespace: connection.namespace).setPaused(false, flow: name)
            }
            print("flow \(name) resumed")
        }
    }
}
