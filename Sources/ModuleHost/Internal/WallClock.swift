import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The wall clock as the message path reads it: once per completed handler, for
/// ``NodeCounters/lastMessageTime``.
enum WallClock {
    /// Nanoseconds since 1970, to a few milliseconds: Linux's coarse real-time
    /// clock, which reads the time the kernel last stored instead of the hardware
    /// counter (status reports keep whole seconds).
    @inline(__always)
    static func coarseNanoseconds() -> Int64 {
        #if canImport(Glibc)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
        #else
        return Int64(Date().timeIntervalSince1970 * 1e9)
        #endif
    }

    /// The instant `nanoseconds` after 1970.
    static func date(nanoseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
    }
}
