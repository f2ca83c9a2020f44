#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds since an arbitrary start, from the monotonic clock (a vDSO call on Linux).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Prints a line and flushes, so each figure appears as soon as it is measured even when
/// stdout is a file or a pipe.
func printLine(_ line: String) {
    print(line)
    fflush(nil)  // all C streams; `stdout` itself is a mutable global Swift 6 refuses
}
