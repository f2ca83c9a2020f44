#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// How the operator process asks the C allocator to behave.
enum MemoryTuning {
    /// Allocations at least this large get their own pages, which go back to the
    /// system when freed.
    static let mmapThreshold = 128 * 1024

    /// Fixes glibc's mmap threshold at ``mmapThreshold``.
    ///
    /// glibc starts at 128 KiB but raises the threshold to the size of every large
    /// block freed, up to 32 MiB. Planning a namespace allocates and frees tables of
    /// megabytes; once the threshold has risen they come from the heap, and the
    /// pages between live objects stay resident: with 10,000 cached TinyNodes the
    /// operator held 190 MiB instead of 110 MiB. A fixed threshold keeps returning
    /// them. `MALLOC_MMAP_THRESHOLD_` in the environment still wins.
    static func apply() {
        #if canImport(Glibc)
        guard getenv("MALLOC_MMAP_THRESHOLD_") == nil,
            let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt")  // RTLD_DEFAULT
        else { return }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mmapThresholdParameter: Int32 = -3  // M_MMAP_THRESHOLD in <malloc.h>
        _ = mallopt(mmapThresholdParameter, Int32(mmapThreshold))
        #endif
    }

    /// Hands the free pages inside glibc's heaps back to the system (`malloc_trim`).
    ///
    /// Memory freed in small blocks stays resident while live blocks share its
    /// pages' heap; after a burst of work (a relist of thousands of nodes, the plans
    /// and status writes that follow) that is tens of MiB. Takes milliseconds.
    static func releaseFreeMemory() {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        typealias MallocTrim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }
}

/// Drops caches that only serve bursts of work and calls
/// ``MemoryTuning/releaseFreeMemory()`` once a burst is over: when a count of work
/// done, after changing, stayed the same for `quiet`. At rest it only looks at the
/// count once per `quiet`.
struct IdleMemoryRelease: Service {
    /// Work done so far (reconciles, syncs).
    let workDone: @Sendable () -> Int
    /// Empties the caches a burst fills.
    let dropCaches: @Sendable () -> Void
    /// How long the count must stay unchanged.
    var quiet: Duration = .seconds(1)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var seen = 0  // work done before this started counts as a burst too
                var released = true
                while true {
                    try await Task.sleep(for: quiet)
                    let now = workDone()
                    if now != seen {
                        (seen, released) = (now, false)
                    } else if !released {
                        dropCaches()
                        MemoryTuning.releaseFreeMemory()
                        released = true
                    }
                }
            }
        } catch is CancellationError {
            return  // graceful shutdown
        }
    }
}
