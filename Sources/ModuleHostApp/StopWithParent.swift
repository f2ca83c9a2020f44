import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Ends this process gracefully when the `tinyflow up` that started it is gone.
///
/// `tinyflow up` gives its children `TINYFLOW_STOP_WITH_PARENT=1` and, as stdin, a pipe only
/// it can write to: when it ends, however it ends, the pipe reaches end-of-file. A thread
/// of its own blocks reading stdin (no polling) and then sends this process SIGTERM, which
/// its `ServiceGroup` turns into a graceful shutdown. Without the variable (a pod, a shell)
/// it does nothing.
public enum StopWithParent {
    /// Starts watching stdin if this process was started to stop with its parent.
    public static func watchIfRequested(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard environment["TINYFLOW_STOP_WITH_PARENT"] == "1" else { return }
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(STDIN_FILENO, &byte, 1)
                if count > 0 { continue }  // the parent never writes; ignore anything that comes
                if count < 0, errno == EINTR { continue }
                break
            }
            kill(getpid(), SIGTERM)
        }
        thread.name = "tinyflow stop-with-parent"
        thread.start()
    }
}
