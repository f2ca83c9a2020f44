import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a spawned child is kept from inheriting the parent's descriptors beyond 0, 1 and 2
/// (the control plane's listening socket, connections, other children's pipes): whatever
/// the code that opened them did about `FD_CLOEXEC` (swift-nio does not set it on sockets).
enum DescriptorClosing: Sendable, CaseIterable {
    /// `posix_spawn_file_actions_addclosefrom_np(3)` (glibc 2.34 and later), looked up at run
    /// time; ``closeEach`` where the C library has none.
    case closeFrom
    /// One close action per descriptor open in the parent when spawning (`/proc/self/fd`). A
    /// descriptor another thread opens between that listing and the spawn, without
    /// `FD_CLOEXEC`, is inherited: a race ``closeFrom`` does not have.
    case closeEach

    /// ``closeFrom`` where the C library has it, else ``closeEach``.
    static var best: DescriptorClosing { addCloseFrom == nil ? .closeEach : .closeFrom }
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

/// The C library's `posix_spawn_file_actions_addclosefrom_np`, if it has one (the Swift
/// module does not export it; glibc before 2.34 and musl lack it).
///
/// A function pointer looked up once, when the global is first used (Swift initialises
/// globals exactly once, thread-safely), and never written again.
private let addCloseFrom: AddCloseFrom? = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np")
    .map { unsafeBitCast($0, to: AddCloseFrom.self) }

/// The descriptors this process has open, from `/proc/self/fd` (or `/dev/fd`); when neither
/// can be read, every number below the descriptor limit (at most 65,536).
private func openDescriptors() -> [Int32] {
    guard let directory = opendir("/proc/self/fd") ?? opendir("/dev/fd") else {
        return Array(0..<Int32(clamping: min(max(sysconf(Int32(_SC_OPEN_MAX)), 1024), 65_536)))
    }
    defer { closedir(directory) }
    var descriptors: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        if let descriptor = Int32(name) { descriptors.append(descriptor) }
    }
    return descriptors
}

/// Spawns `spec` with `posix_spawn`: stdin from `input` (or /dev/null), stdout and stderr
/// to `output` (or inherited when `nil`), no other descriptor of ours, an empty signal mask
/// and default signal dispositions.
func spawn(_ spec: ChildSpec, input: Int32? = nil, output: Int32?, closing: DescriptorClosing = .best) throws(SpawnError) -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let input {
        posix_spawn_file_actions_adddup2(&actions, input, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let output {
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
    }
    // After the dup2s, which need `output` open.
    if closing == .closeFrom, let addCloseFrom {
        _ = addCloseFrom(&actions, 3)
    } else {
        // A descriptor closed meanwhile makes its close fail with EBADF, which posix_spawn ignores.
        for descriptor in openDescriptors() where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
    }

    let arguments = [spec.executable] + spec.arguments
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var environment = ProcessInfo.processInfo.environment
    environment.merge(spec.environment) { _, child in child }
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in envp { free(pointer) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, spec.executable, &actions, &attributes, argv, envp)
    guard result == 0 else { throw SpawnError(executable: spec.executable, code: result) }
    return pid
}
