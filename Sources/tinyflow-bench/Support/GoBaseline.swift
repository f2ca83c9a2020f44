import Foundation

/// Runs the Go buffered-channel benchmark (`bench/go/chanbench.go`) as a baseline.
enum GoBaseline {
    struct Skipped: Error, CustomStringConvertible {
        var description: String
    }

    /// `bench/go/chanbench.go` next to this package's `Sources/`, found from this file's path;
    /// falls back to the working directory.
    static var defaultSource: String {
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Support
            .deletingLastPathComponent()  // tinyflow-bench
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()
        let candidate = packageRoot.appendingPathComponent("bench/go/chanbench.go").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : "bench/go/chanbench.go"
    }

    /// Builds the program with `go build` into a temporary directory, runs it, and returns
    /// the `value` of the JSON line it prints.
    static func run(source: String, messages: Int, capacity: Int, repetitions: Int) -> Result<Double, Skipped> {
        guard let go = findOnPath("go") else { return .failure(Skipped(description: "go not installed")) }
        guard FileManager.default.fileExists(atPath: source) else {
            return .failure(Skipped(description: "no Go source at \(source)"))
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tinyflow-bench-go-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(Skipped(description: "cannot create \(directory.path): \(error)"))
        }
        let binary = directory.appendingPathComponent("chanbench").path
        let build = execute(go, ["build", "-o", binary, source])
        guard build.status == 0 else {
            return .failure(Skipped(description: "go build failed: \(build.output.suffix(300))"))
        }
        let result = execute(binary, ["-n", "\(messages)", "-cap", "\(capacity)", "-reps", "\(repetitions)"])
        guard result.status == 0,
            let line = result.output.split(separator: "\n").last,
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let value = object["value"] as? Double
        else {
            return .failure(Skipped(description: "chanbench failed: \(result.output.suffix(300))"))
        }
        return .success(value)
    }

    private static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func execute(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (-1, "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
