public import ControlPlane
import Foundation
import JSONSchemaKit
import YAMLValues

/// What `tinyflow up` runs.
public struct LocalModeOptions: Sendable {
    /// The data directory: `control-plane/` (SQLite), `kubeconfig`, `context.db`, `logs/`.
    /// It and its subdirectories are made the owner's only (0700), its files 0600.
    public var dataDirectory: URL
    /// The control plane's port; 0 picks a free one.
    public var port: Int = 0
    /// Manifests (TinyNodes, TinyFlows, TinyModules) applied once everything started.
    public var flowFiles: [String] = []
    /// Extra module processes to run besides the built-in `common` module.
    public var modules: [ModuleProcess] = []
    /// The `tinyflow` executable, used for `module-host` and `operator` children.
    public var executable: String
    /// The namespace everything is applied to.
    public var namespace: String = "default"
    /// How children are restarted and stopped.
    public var policy: SupervisorPolicy = SupervisorPolicy()
    /// How large each child's log in `logs/` may grow before it is rotated, and how many
    /// rotated files are kept.
    public var logLimit: LogFileLimit = LogFileLimit()
    /// The control plane's limits (`tinyflow up --max-…`).
    public var controlPlaneLimits = ControlPlaneLimits()
    /// How often progress (nodes, modules, debug output) is polled.
    public var pollInterval: Duration = .milliseconds(500)
    /// Where the module hosts keep node context (`--context-store`); `nil`: the SQLite file
    /// ``contextDatabasePath``, shared by every local module host and kept across restarts.
    public var contextStore: String?
    /// Whether to serve the console (docs/console.md) and print its URL.
    public var console = true
    /// The console's port on 127.0.0.1 (0 picks a free one).
    public var consolePort = 0

    /// Options for the data directory `dataDirectory` and the `tinyflow` binary at `executable`.
    public init(dataDirectory: URL, executable: String) {
        self.dataDirectory = dataDirectory
        self.executable = executable
    }

    /// The context store the module hosts get: ``contextStore``, else `sqlite:<data>/context.db`.
    public var contextStoreLocation: String {
        contextStore ?? "sqlite:\(Self.contextDatabasePath(dataDirectory: dataDirectory))"
    }

    /// The default context database in `dataDirectory` (absolute, as children run elsewhere).
    public static func contextDatabasePath(dataDirectory: URL) -> String {
        dataDirectory.appendingPathComponent("context.db").standardizedFileURL.path
    }

    /// The bearer token the module hosts of this run require of their callers (the operator,
    /// each other, `tinyflow logs` and `tinyflow context`); a new one on every start, 0600.
    public var moduleTokenPath: String { Self.moduleTokenPath(dataDirectory: dataDirectory) }

    /// Where the module hosts' token lives in `dataDirectory` (absolute, as children run elsewhere).
    public static func moduleTokenPath(dataDirectory: URL) -> String {
        dataDirectory.appendingPathComponent("module-token").standardizedFileURL.path
    }

    /// Where the kubeconfig for the control plane is written.
    public var kubeconfigPath: String { Self.kubeconfigPath(dataDirectory: dataDirectory) }

    /// Where the kubeconfig lives in `dataDirectory`.
    public static func kubeconfigPath(dataDirectory: URL) -> String {
        dataDirectory.appendingPathComponent("kubeconfig").path
    }
}

/// A module served by a child process: the name its `TinyModule` gets and the command
/// that starts its host. `tinyflow up` appends `--listen 127.0.0.1:PORT --health-address none`.
public struct ModuleProcess: Sendable, Hashable, Codable {
    /// The TinyModule name nodes refer to in `spec.module`.
    public var name: String
    /// The command: an executable (absolute, relative to the modules file, on `PATH`,
    /// or `tinyflow` for this binary) and its arguments.
    public var command: [String]

    /// A module `name` started with `command`.
    public init(name: String, command: [String]) {
        self.name = name
        self.command = command
    }

    /// The built-in standard components, hosted by `tinyflow module-host --module common`.
    public static let common = ModuleProcess(name: "common", command: ["tinyflow", "module-host", "--module", "common"])
}

/// Why a modules file could not be read.
public struct ModulesFileError: Error, CustomStringConvertible, Sendable {
    /// The file and what is wrong with it.
    public var description: String
}

/// A modules file: `modules: [{name, command: [...]}]`.
public enum ModulesFile {
    private struct Document: Decodable {
        var modules: [ModuleProcess]
    }

    /// Reads the modules listed in the YAML `text`; `source` names it in errors.
    public static func parse(_ text: String, source: String = "<modules>") throws(ModulesFileError) -> [ModuleProcess] {
        let document: Document
        do {
            document = try (YAMLDocuments.parseDocument(text, source: source) ?? .object([:])).decode(as: Document.self)
        } catch {
            throw ModulesFileError(description: "\(source): expected `modules: [{name, command: [...]}]`: \(error)")
        }
        var seen: Set<String> = []
        for module in document.modules {
            guard !module.name.isEmpty, !module.command.isEmpty else {
                throw ModulesFileError(description: "\(source): every module needs a name and a non-empty command")
            }
            guard seen.insert(module.name).inserted else {
                throw ModulesFileError(description: "\(source): module \"\(module.name)\" is listed twice")
            }
        }
        return document.modules
    }

    /// Reads a modules file; relative executables are resolved against its directory.
    public static func read(path: String) throws(ModulesFileError) -> [ModuleProcess] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModulesFileError(description: "\(path): cannot read the file")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(String(decoding: data, as: UTF8.self), source: path).map { module in
            var module = module
            if let first = module.command.first, first.contains("/"), !first.hasPrefix("/") {
                module.command[0] = directory.appendingPathComponent(first).standardizedFileURL.path
            }
            return module
        }
    }
}

/// Resolves `command[0]` to an absolute executable: `tinyflow` is `tinyflowExecutable`,
/// a bare name is looked up on `PATH`.
func resolveExecutable(_ name: String, tinyflowExecutable: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if name == "tinyflow" { return tinyflowExecutable }
    if name.hasPrefix("/") { return name }
    if name.contains("/") { return URL(fileURLWithPath: name).standardizedFileURL.path }
    for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return name
}
