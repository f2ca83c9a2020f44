public import Backoff
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How to start one supervised child process.
public struct ChildSpec: Sendable, Hashable {
    /// A short name for logs, e.g. `module common` or `operator`.
    public var name: String
    /// The executable to run (an absolute path).
    public var executable: String
    /// Its arguments (without the executable itself).
    public var arguments: [String]
    /// Where the child's stdout and stderr go (appended); `nil` inherits ours.
    public var logFile: String?
    /// Variables set in the child's environment on top of ours (values that must not show
    /// in a process listing's arguments, such as a database URL with a password).
    public var environment: [String: String]

    /// A child that runs `executable` with `arguments`.
    public init(
        name: String, executable: String, arguments: [String], logFile: String? = nil, environment: [String: String] = [:]
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logFile = logFile
        self.environment = environment
    }
}

/// How a ``ProcessSupervisor`` restarts children and stops them.
public struct SupervisorPolicy: Sendable {
    /// The wait before the first restart.
    public var initialBackoff: Duration = .milliseconds(200)
    /// The longest wait between restarts.
    public var maxBackoff: Duration = .seconds(10)
    /// A child that ran at least this long resets its backoff.
    public var resetAfter: Duration = .seconds(10)
    /// The delays between restarts: these three, doubling, without jitter.
    public var restartBackoff: Backoff {
        Backoff(initial: initialBackoff, maximum: maxBackoff, jitter: 0, resetAfter: resetAfter)
    }
    /// How long a child has to exit after SIGTERM before it gets SIGKILL.
    public var gracePeriod: Duration = .seconds(5)

    /// The default policy: 200 ms doubling to 10 s, reset after 10 s up, 5 s grace.
    public init() {}
}

/// What happened to a supervised child, reported to the supervisor's observer.
public enum ChildEvent: Sendable, Hashable {
    /// The child was started with this process id.
    case started(name: String, pid: Int32)
    /// The child exited (status, or signal number when `signaled`) and will be restarted after `backoff`.
    case exited(name: String, status: Int32, signaled: Bool, restartIn: Duration)
    /// The child could not be started; it will be tried again after `backoff`.
    case failedToStart(name: String, error: String, restartIn: Duration)
}

/// Starts child processes, restarts any that die (with exponential backoff) and
/// stops them all gracefully: SIGTERM, then SIGKILL after the grace period.
///
/// Children are spawned with an empty signal mask and default dispositions for
/// SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGPIPE, whatever the spawning thread had
/// blocked or ignored, so SIGTERM always reaches them.
public actor ProcessSupervisor {
    private struct Child {
        var spec: ChildSpec
        var pid: pid_t?
        var starts = 0
        var loop: Task<Void, Never>?
    }

    private let policy: SupervisorPolicy
    private let logger: Logger
    private let observer: @Sendable (ChildEvent) -> Void
    private var children: [String: Child] = [:]
    private var stopping = false

    /// A supervisor with `policy`; `observer` hears every start, exit and restart.
    public init(
        policy: SupervisorPolicy = SupervisorPolicy(), logger: Logger = Logger(label: "tinyflow.up.supervisor"),
        observer: @escaping @Sendable (ChildEvent) -> Void = { _ in }
    ) {
        self.policy = policy
        self.logger = logger
        self.observer = observer
    }

    /// Starts `spec` and keeps it running until ``shutdown()``. Names must be unique.
    public func start(_ spec: ChildSpec) {
        guard !stopping, children[spec.name] == nil else { return }
        children[spec.name] = Child(spec: spec)
        let loop = Task { await self.superviseLoop(name: spec.name) }
        children[spec.name]?.loop = loop
    }

    /// The process id of `name`'s current incarnation, if it is running.
    public func pid(of name: String) -> Int32? { children[name]?.pid }

    /// How many times `name` was started (1 plus its restarts).
    public func startCount(of name: String) -> Int { children[name]?.starts ?? 0 }

    /// The process ids of every running child.
    public var runningPIDs: [Int32] { children.values.compactMap(\.pid) }

    private var anyRunning: Bool { children.values.contains { $0.pid != nil } }

    /// Stops restarting, sends every child SIGTERM, then SIGKILL to those still
    /// running after the grace period, and returns once all have exited and been reaped.
    public func shutdown() async {
        stopping = true
        for pid in runningPIDs { kill(pid, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: policy.gracePeriod)
        while clock.now < deadline, anyRunning {
            try? await clock.sleep(for: .milliseconds(20))
        }
        for (name, child) in children {
            guard let pid = child.pid else { continue }
            logger.warning("\(name) did not exit after SIGTERM; sending SIGKILL", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
        }
        while anyRunning {
            try? await clock.sleep(for: .milliseconds(20))
        }
        let loops = children.values.compactMap(\.loop)
        for loop in loops { loop.cancel() }
        for loop in loops { await loop.value }
    }

    private func superviseLoop(name: String) async {
        var schedule = BackoffSchedule(policy.restartBackoff)
        let clock = ContinuousClock()
        while !stopping, !Task.isCancelled, let spec = children[name]?.spec {
            schedule.started(at: clock.now)
            let pid: pid_t
            do {
                pid = try spawn(spec)
            } catch {
                let backoff = schedule.failed(at: clock.now)
                logger.error("could not start \(name): \(error)")
                observer(.failedToStart(name: name, error: "\(error)", restartIn: backoff))
                try? await Task.sleep(for: backoff)
                continue
            }
            children[name]?.pid = pid
            children[name]?.starts += 1
            logger.info("started \(name)", metadata: ["pid": "\(pid)"])
            observer(.started(name: name, pid: pid))
            let exit = await reap(pid)
            children[name]?.pid = nil
            if stopping { return }
            let backoff = schedule.failed(at: clock.now)
            let how = exit.signaled ? "killed by signal \(exit.status)" : "exited with status \(exit.status)"
            logger.info("\(name) \(how); restarting in \(backoff)")
            observer(.exited(name: name, status: exit.status, signaled: exit.signaled, restartIn: backoff))
            try? await Task.sleep(for: backoff)
        }
    }

    /// Waits for `pid` to exit and reaps it: its exit status, or the signal that ended it.
    /// Polls (every 20 ms) so it never blocks a thread; it does not stop early on cancellation,
    /// because a child must always be reaped.
    private func reap(_ pid: pid_t) async -> (status: Int32, signaled: Bool) {
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signal = status & 0x7f
                return signal == 0 ? ((status >> 8) & 0xff, false) : (signal, true)
            }
            if result == -1, errno != EINTR { return (-1, false) }
            // Not `Task.sleep`: a cancelled sleep would return at once and spin.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { continuation.resume() }
            }
        }
    }
}

/// Why a child process could not be spawned.
public struct SpawnError: Error, CustomStringConvertible {
    /// The executable.
    public var executable: String
    /// The `errno` of `posix_spawn` or of opening the log file.
    public var code: Int32

    /// The executable and the system's description of the error.
    public var description: String { "\(executable): \(String(cString: strerror(code)))" }
}

/// Spawns `spec` with `posix_spawn`: stdin from /dev/null, stdout and stderr appended to its
/// log file (or inherited), an empty signal mask and default signal dispositions.
func spawn(_ spec: ChildSpec) throws -> pid_t {
    if let path = spec.logFile {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
    }
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
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if let path = spec.logFile {
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
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
