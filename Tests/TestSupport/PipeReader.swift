import Foundation
import Synchronization

/// Collects what a child process writes to a pipe, on a thread of its own that
/// blocks in `read(2)` until end of file.
///
/// Not `FileHandle.readabilityHandler`: on Linux its dispatch source can still be
/// registered with epoll when the pipe's descriptor is closed and reused, and
/// libdispatch then crashes in `_dispatch_event_loop_drain` (now and then, under
/// load; swiftlang/swift-subprocess#47 has the same crash). Not the concurrency pool
/// either: a blocked read would hold one of its few threads.
public final class PipeReader: Sendable {
    private let state = Mutex<(text: String, finished: Bool)>(("", false))

    /// Starts reading `handle` (the read end of a pipe whose write end the child has).
    public init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let data = handle.availableData  // blocks; empty at end of file
                if data.isEmpty { break }
                state.withLock { $0.text += String(decoding: data, as: UTF8.self) }
            }
            state.withLock { $0.finished = true }
        }
        thread.name = "pipe reader"
        thread.start()
    }

    /// Everything read so far.
    public var text: String { state.withLock { $0.text } }

    /// Whether the pipe reached end of file: every writer closed it.
    public var finished: Bool { state.withLock { $0.finished } }
}
