#if canImport(Glibc)
import Glibc
#endif

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
}
