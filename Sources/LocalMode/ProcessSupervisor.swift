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
    /// Where the child's stdout and stderr go (appended, through a pipe the supervisor reads,
    /// rotated at ``logLimit``; mode 0600); `nil` inherits ours.
    public var logFile: String?
    /// How large ``logFile`` may grow and how many rotated files are kept.
    public var logLimit: LogFileLimit
    /// Variables set in the child's environment on top of ours (values that must not show
    /// in a process listing's arguments, such as a database URL with a password).
    public var environment: [String: String]

    /// A child that runs `executable` with `arguments`.
    public init(
        name: String, executable: String, arguments: [String], logFile: String? = nil, logLimit: LogFileLimit = LogFileLimit(),
        environment: [String: String] = [:]
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logFile = logFile
        self.logLimit = logLimit
        self.environment = environment
    }
}

/// How large a child's log file may grow: it is rotated by size (`NAME.log` becomes
/// `NAME.log.1`, `NAME.log.1` becomes `NAME.log.2`, …) and a bounded number of rotated files
/// is kept, so a child's logs never take more than ``totalBytes``.
public struct LogFileLimit: Sendable, Hashable {
    /// The most bytes one file holds (at least 1): the file is rotated before a write would pass it.
    public var maxBytes: Int {
        didSet { maxBytes = max(maxBytes, 1) }
    }
    /// How many rotated files are kept (the oldest beyond them is deleted); 0 empties the
    /// file instead of rotating it.
    public var rotatedFiles: Int {
        didSet { rotatedFiles = max(rotatedFiles, 0) }
    }

    /// Files of at most `maxBytes` (default 10 MiB), `rotatedFiles` (default 3) of them kept
    /// besides the current one.
    public init(maxBytes: Int = 10 << 20, rotatedFiles: Int = 3) {
        self.maxBytes = max(maxBytes, 1)
        self.rotatedFiles = max(rotatedFiles, 0)
    }

    /// The most bytes the current file and the rotated ones hold together.
    public var totalBytes: Int { maxBytes.multipliedReportingOverflow(by: rotatedFiles + 1).partialValue }
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
/// blocked or ignored, so SIGTERM always reaches them. They inherit no descriptor but
/// stdin (/dev/null), stdout and stderr: not the control plane's listening socket, so a
/// child that outlives its supervisor never holds its port.
///
/// A child with a log file writes into a pipe; the supervisor copies it into the file,
/// rotating it by size (``LogFileLimit``).
///
/// Children do not outlive their supervisor: their stdin is the read end of a pipe (the
/// *lifeline*) whose only write end the supervisor holds, and they get
/// `TINYFLOW_STOP_WITH_PARENT=1`. When the supervisor's process ends however it ends (even
/// SIGKILL), the kernel closes the write end, the children read end-of-file and stop
/// gracefully (module hosts and the operator do, see `StopWithParent`).
public actor ProcessSupervisor {
    private struct Child {
        var spec: ChildSpec
        var pid: pid_t?
        var starts = 0
        var loop: Task<Void, Never>?
        var log: ChildLog?
    }

    /// How long ``shutdown()`` waits for the children's last output to reach their log files.
    private static let logDrainTimeout: Duration = .seconds(2)

    private let policy: SupervisorPolicy
    private let logger: Logger
    private let observer: @Sendable (ChildEvent) -> Void
    private var children: [String: Child] = [:]
    private var stopping = false
    /// The children's stdin; its write end, held only here, closes when this process ends.
    private let lifeline: (read: Int32, write: Int32)?

    /// A supervisor with `policy`; `observer` hears every start, exit and restart.
    public init(
        policy: SupervisorPolicy = SupervisorPolicy(), logger: Logger = Logger(label: "tinyflow.up.supervisor"),
        observer: @escaping @Sendable (ChildEvent) -> Void = { _ in }
    ) {
        self.policy = policy
        self.logger = logger
        self.observer = observer
        lifeline = try? ChildLog.pipe()
    }

    deinit {
        if let lifeline {
            closeDescriptor(lifeline.read)
            closeDescriptor(lifeline.write)
        }
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
        // A pipe ends once its child (and anything it started with the same output) exited.
        let logs = children.values.compactMap(\.log)
        let drained = clock.now.advanced(by: Self.logDrainTimeout)
        while clock.now < drained, logs.contains(where: { $0.activePumps > 0 }) {
            try? await clock.sleep(for: .milliseconds(20))
        }
        for log in logs { log.close() }
    }

    private func superviseLoop(name: String) async {
        var schedule = BackoffSchedule(policy.restartBackoff)
        let clock = ContinuousClock()
        while !stopping, !Task.isCancelled, let spec = children[name]?.spec {
            schedule.started(at: clock.now)
            let pid: pid_t
            do {
                pid = try launch(spec)
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

    /// Spawns `spec`, its output into a new pipe to its log (opened on first use).
    private func launch(_ spec: ChildSpec) throws -> pid_t {
        var spec = spec
        if lifeline != nil { spec.environment["TINYFLOW_STOP_WITH_PARENT"] = "1" }
        guard let path = spec.logFile else { return try spawn(spec, input: lifeline?.read, output: nil) }
        let log: ChildLog
        if let existing = children[spec.name]?.log {
            log = existing
        } else {
            log = try ChildLog(path: path, limit: spec.logLimit)
            children[spec.name]?.log = log
        }
        let pipe = try ChildLog.pipe()
        let pid: pid_t
        do {
            pid = try spawn(spec, input: lifeline?.read, output: pipe.write)
        } catch {
            closeDescriptor(pipe.read)
            closeDescriptor(pipe.write)
            throw error
        }
        // Ours closed, the child's is the only write end: its exit ends the pump.
        closeDescriptor(pipe.write)
        log.pump(from: pipe.read)
        return pid
    }

    /// Waits for `pid` to exit and reaps it: its exit status, or the signal that ended it.
    /// A thread of its own blocks in `waitpid` (no polling, no thread of the concurrency pool
    /// held); it does not stop early on cancellation, because a child must always be reaped.
    private func reap(_ pid: pid_t) async -> (status: Int32, signaled: Bool) {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                var result = waitpid(pid, &status, 0)
                while result == -1, errno == EINTR { result = waitpid(pid, &status, 0) }
                guard result == pid else { return continuation.resume(returning: (-1, false)) }
                let signal = status & 0x7f
                continuation.resume(returning: signal == 0 ? ((status >> 8) & 0xff, false) : (signal, true))
            }
            thread.name = "tinyflow reap \(pid)"
            thread.start()
        }
    }
}

/// Why a child process could not be spawned.
public struct SpawnError: Error, CustomStringConvertible {
    /// The executable.
    public var executable: String
    /// The `errno` of `posix_spawn`.
    public var code: Int32

    /// The executable and the system's description of the error.
    public var description: String { "\(executable): \(String(cString: strerror(code)))" }
}
