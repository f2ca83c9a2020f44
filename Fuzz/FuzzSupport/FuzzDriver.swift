#if FUZZING
import CFuzzerDriver
#endif
import Foundation

/// The `main` of every fuzz target in `Fuzz/Targets`: one test function, two ways to run it.
///
/// Built normally (`swift build`), the target is a *replayer*: it runs every file named on
/// its command line, and every file below every directory named, through the test function
/// once, so the committed corpora in `Fuzz/Corpus` double as regression inputs that any
/// debug build can check (`.ci/run` does). Built with `-D FUZZING -sanitize=fuzzer,address`
/// (`scripts/fuzz.sh`, `make fuzz`), it hands the same function to libFuzzer through
/// `LLVMFuzzerRunDriver`, with libFuzzer's usual flags and corpus directories.
///
/// A test function returns normally for every input, valid or not; a crash, an
/// assertion (`precondition`) it checks, a sanitizer report, a hang or running out of
/// memory is a finding.
public enum FuzzDriver {
    /// The test function, for libFuzzer's C callback (which cannot capture it).
    nonisolated(unsafe) private static var test: ((UnsafeRawBufferPointer) -> Void)?

    /// Runs `test` under libFuzzer or over the inputs named on the command line; does not return.
    public static func main(_ name: String, _ test: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        Self.test = test
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzDriver.test?(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
        #else
        exit(replay(name, arguments: Array(CommandLine.arguments.dropFirst())))
        #endif
    }

    /// Runs every input file named in `arguments` (directories: every regular file below
    /// them, in name order) through the test function. libFuzzer-style flags (`-name=value`)
    /// are ignored, so a replayer accepts a fuzzer's command line.
    static func replay(_ name: String, arguments: [String]) -> Int32 {
        let paths = arguments.filter { !$0.hasPrefix("-") }
        guard !paths.isEmpty else {
            print("usage: \(name) FILE-OR-DIRECTORY... (replays inputs; build with -D FUZZING -sanitize=fuzzer to fuzz)")
            return 2
        }
        var count = 0
        var slowest: (seconds: Double, path: String) = (0, "")
        for path in paths {
            for file in inputFiles(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    print("\(name): cannot read \(file)")
                    return 1
                }
                let start = ContinuousClock.now
                data.withUnsafeBytes { test?($0) }
                let elapsed = start.duration(to: .now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                if seconds > slowest.seconds { slowest = (seconds, file) }
                count += 1
            }
        }
        let slowestNote = count > 0 ? "; slowest \(Int((slowest.seconds * 1000).rounded())) ms (\(slowest.path))" : ""
        print("\(name): replayed \(count) inputs without a finding\(slowestNote)")
        return 0
    }

    private static func inputFiles(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [path] }
        guard isDirectory.boolValue else { return [path] }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let file = (path as NSString).appendingPathComponent(relative)
            var nested: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &nested), !nested.boolValue { files.append(file) }
        }
        return files.sorted()
    }
}
