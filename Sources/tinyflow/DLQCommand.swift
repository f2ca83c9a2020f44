import ArgumentParser
import Foundation
import LocalMode
import ModuleHostAPI

/// `tinyflow dlq`: lists, shows, replays and purges the dead letters of durable edges through
/// a module host (which holds the message store; the command holds no database credentials).
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List, show, replay and purge the dead letters of durable edges.",
        discussion: """
            Dead letters are messages of durable edges that will not be delivered: their deadline passed, \
            they failed as often as their edge's retry policy allows, or their failure cannot be retried. \
            --flow F selects those of the flow's nodes, --node N those of one node, --id ID given ones \
            (repeat --id for several; with --flow or --node, those of them that are).
            """,
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    /// Which dead letters: a flow's, a node's, given ids.
    struct Selection: ParsableArguments {
        @Option(help: "A TinyFlow: the dead letters of its nodes.")
        var flow: String?

        @Option(help: "A TinyNode: the dead letters of its input ports.")
        var node: String?

        @Option(name: .customLong("id"), help: "A dead letter's id; repeat for several.")
        var ids: [Int64] = []

        /// The selection, with `all` when `--all` was given.
        func selection(all: Bool = false) -> DeadLetterInspection.Selection {
            DeadLetterInspection.Selection(flow: flow, node: node, ids: ids, all: all)
        }
    }

    /// Checks `selection` for `operation` as a usage error.
    static func validate(_ selection: DeadLetterInspection.Selection, for operation: DeadLetterRequest.Operation) throws {
        do {
            try selection.validate(for: operation)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Carries out `operation` on `selection` through a module host of the namespace.
    static func perform(
        _ operation: DeadLetterRequest.Operation, _ selection: DeadLetterInspection.Selection, limit: Int? = nil,
        access: ModuleHostAccessOptions
    ) async throws -> DeadLetterResponse {
        try await access.withModuleHosts { client, token in
            let request = try await DeadLetterInspection.request(
                operation, selection, namespace: access.namespace, limit: limit, client: client)
            return try await DeadLetterInspection.perform(request, client: client, token: token)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters, oldest first: id, target node and port, edge, attempts, reason, time and last error.")

        @OptionGroup var selection: Selection

        @Option(help: "Show at most this many (1 to \(DeadLetterRequest.maximumLimit)).")
        var limit: Int = DeadLetterRequest.defaultLimit

        @OptionGroup var access: ModuleHostAccessOptions

        func validate() throws {
            try DLQCommand.validate(selection.selection(), for: .list)
            guard (1...DeadLetterRequest.maximumLimit).contains(limit) else {
                throw ValidationError("--limit must be between 1 and \(DeadLetterRequest.maximumLimit)")
            }
        }

        func run() async throws {
            let response = try await DLQCommand.perform(.list, selection.selection(), limit: limit, access: access)
            let deadLetters = response.deadLetters ?? []
            guard !deadLetters.isEmpty else {
                print("no dead letters")
                return
            }
            print(DeadLetterInspection.table(deadLetters))
            if deadLetters.count == limit {
                FileHandle.standardError.write(Data("(the oldest \(limit) shown; --limit shows up to \(DeadLetterRequest.maximumLimit))\n".utf8))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one dead letter as JSON, its message included.")

        @Option(help: "The dead letter's id.")
        var id: Int64

        @OptionGroup var access: ModuleHostAccessOptions

        func run() async throws {
            let deadLetter = try await access.withModuleHosts { client, token in
                try await DeadLetterInspection.deadLetter(id, namespace: access.namespace, client: client, token: token)
            }
            print(try DeadLetterInspection.json(deadLetter))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back into their queues with their attempts reset; prints how many.")

        @OptionGroup var selection: Selection

        @Flag(help: "Every dead letter of the namespace.")
        var all: Bool = false

        @OptionGroup var access: ModuleHostAccessOptions

        func validate() throws { try DLQCommand.validate(selection.selection(all: all), for: .replay) }

        func run() async throws {
            let count = try await DLQCommand.perform(.replay, selection.selection(all: all), access: access).count ?? 0
            print("replayed \(count) dead letter\(count == 1 ? "" : "s")")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good; prints how many.")

        @OptionGroup var selection: Selection

        @Flag(help: "Every dead letter of the namespace.")
        var all: Bool = false

        @OptionGroup var access: ModuleHostAccessOptions

        func validate() throws { try DLQCommand.validate(selection.selection(all: all), for: .purge) }

        func run() async throws {
            let count = try await DLQCommand.perform(.purge, selection.selection(all: all), access: access).count ?? 0
            print("purged \(count) dead letter\(count == 1 ? "" : "s")")
        }
    }
}
