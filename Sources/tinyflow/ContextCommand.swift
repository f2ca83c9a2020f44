import ArgumentParser
import ComponentKit
import Foundation
import LocalMode
import ModuleHostAPI

/// `tinyflow context`: reads and writes node, flow and global context through a module host.
struct ContextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context", abstract: "Read and write the context (state) of a flow, a node or a namespace.",
        subcommands: [Get.self, Set.self, List.self, Delete.self])

    /// Which context and where the API server is.
    struct Target: ParsableArguments {
        @Option(help: "The TinyFlow: its flow context (or, with --node, the flow the node belongs to).")
        var flow: String?

        @Option(help: "A TinyNode: its own node context.")
        var node: String?

        @Flag(help: "The namespace's global context.")
        var global: Bool = false

        @OptionGroup var access: ModuleHostAccessOptions

        func validate() throws {
            if global, flow != nil || node != nil {
                throw ValidationError("--global names the namespace's context: drop --flow and --node")
            }
            if !global, flow == nil, node == nil {
                throw ValidationError("name a context: --flow F (its flow context), --node N (the node's own) or --global")
            }
        }

        /// The scope the options name.
        var scope: ContextScope {
            let namespace = access.namespace
            if let node { return .node(namespace: namespace, node: node) }
            if let flow { return .flow(namespace: namespace, flow: flow) }
            return .global(namespace: namespace)
        }

        /// Carries out `request` through a module host found with the API server.
        func perform(_ request: ContextRequest) async throws -> ContextResponse {
            try await access.withModuleHosts { client, token in
                try await ContextInspection.perform(request, client: client, token: token)
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's value as JSON.")

        @OptionGroup var target: Target

        @Option(help: "The key.")
        var key: String

        func run() async throws {
            let response = try await target.perform(ContextRequest(.get, scope: target.scope, key: key))
            guard let value = response.value else { throw CommandError(message: "no key \"\(key)\" in \(target.scope) context") }
            print(value.jsonString)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a value under a key.")

        @OptionGroup var target: Target

        @Option(help: "The key.")
        var key: String

        @Option(help: "The value as JSON (`42`, `\"text\"`, `{\"a\":1}`); text that is not JSON is stored as a string.")
        var value: String

        func run() async throws {
            let json = (try? JSONValue(parsing: Data(value.utf8))) ?? .string(value)
            let response = try await target.perform(ContextRequest(.set, scope: target.scope, key: key, value: json))
            print((response.value ?? json).jsonString)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys, one per line.")

        @OptionGroup var target: Target

        @Option(help: "Only keys starting with this prefix.")
        var key: String?

        func run() async throws {
            let response = try await target.perform(ContextRequest(.list, scope: target.scope, key: key))
            for key in response.keys ?? [] { print(key) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key, or with --all every key of the context.")

        @OptionGroup var target: Target

        @Option(help: "The key.")
        var key: String?

        @Flag(help: "Delete every key of the context.")
        var all: Bool = false

        func validate() throws {
            guard (key == nil) == all else { throw ValidationError("give --key K or --all") }
        }

        func run() async throws {
            let request = all
                ? ContextRequest(.clear, scope: target.scope) : ContextRequest(.delete, scope: target.scope, key: key)
            let removed = try await target.perform(request).removed ?? 0
            if !all, removed == 0 { throw CommandError(message: "no key \"\(key ?? "")\" in \(target.scope) context") }
            print("deleted \(removed) key\(removed == 1 ? "" : "s")")
        }
    }
}
