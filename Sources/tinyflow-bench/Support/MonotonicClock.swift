import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds since an arbitrary start, from the monotonic clock (`CLOCK_MONOTONIC`
/// through Dispatch, a vDSO call on Linux).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// Prints a line and flushes, so each figure appears as soon as it is measured even when
/// stdout is a file or a pipe.
func printLine(_ line: String) {
    print(line)
    fflush(nil)  // all C streams; `stdout` itself is a mutable global Swift 6 refuses
}
