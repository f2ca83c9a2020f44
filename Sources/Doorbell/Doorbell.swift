import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Synchronization

/// Wakes the other processes that share a directory: what processes on one machine sharing
/// an SQLite file use instead of PostgreSQL's `NOTIFY`, which SQLite has not.
///
/// Each open doorbell listens on a Unix datagram socket in the directory (`<pid>-<random>.sock`);
/// ``ring(_:)`` sends a short payload to every other socket there and returns at once. A
/// ring is a hint, never the only copy of anything: a ring to a process whose socket buffer
/// is full is dropped (it has unread rings that wake it anyway), and socket files nobody
/// listens on any more (a process that was killed) are removed by the first ring that finds
/// them dead. The listing of the directory is read again at most once a second, and at once
/// after a failed send: a process that opened its doorbell a moment ago may miss a ring for
/// up to a second.
///
/// Nothing runs while nothing rings: the sockets are served by NIO's event loop.
public final class Doorbell: Sendable {
    /// Where the sockets live.
    public let directory: String
    /// This doorbell's own socket.
    public let path: String
    private let channel: any Channel
    private let peers = Mutex<Peers>(Peers())
    /// The socket rings are sent from; `nil` once closed (under the lock, so no ring sends on
    /// a descriptor that was closed and reused).
    private let sender: Mutex<Int32?>

    private struct Peers {
        var paths: [String] = []
        var listedAt: ContinuousClock.Instant?
    }

    /// Opens a doorbell in `directory` (created, owner-only, if missing); `onRing` is called
    /// with the payload of every ring another process sends there.
    public static func open(directory: String, onRing: @escaping @Sendable ([UInt8]) -> Void) async throws -> Doorbell {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let name = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max)).sock"
        let path = (directory as NSString).appendingPathComponent(name)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RingHandler(onRing: onRing)) }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        // Only the owner rings (the directory is the owner's too).
        _ = chmod(path, 0o600)
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            try? await channel.close()
            throw IOError(errnoCode: errno, reason: "socket")
        }
        // Linux's autobind: an address of the family alone gets a unique abstract name, which
        // needs no file and goes with the process. Receivers read datagrams with their
        // sender's address, and one without any is dropped.
        var family = sockaddr_un()
        family.sun_family = sa_family_t(AF_UNIX)
        let bound = withUnsafePointer(to: &family) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sa_family_t>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            _ = Glibc.close(descriptor)
            try? await channel.close()
            throw IOError(errnoCode: code, reason: "bind")
        }
        return Doorbell(directory: directory, path: path, channel: channel, sender: descriptor)
    }

    private init(directory: String, path: String, channel: any Channel, sender: Int32) {
        self.directory = directory
        self.path = path
        self.channel = channel
        self.sender = Mutex(sender)
    }

    /// The directory for the doorbells of processes sharing the file at `file`: beside it
    /// (`<file>-doorbell`) when socket paths there fit the system's limit, else one in the
    /// temporary directory named after the file's path.
    public static func directory(sharing file: String) -> String {
        let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
        let beside = absolute + "-doorbell"
        // `sun_path` holds 108 bytes on Linux, 104 on macOS; a socket's name takes up to 22.
        if beside.utf8.count + 24 < 104 { return beside }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in absolute.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let temporary = FileManager.default.temporaryDirectory.path
        return (temporary as NSString).appendingPathComponent("tinyflow-doorbell-\(String(hash, radix: 16))")
    }

    /// Sends `payload` (at most 64 KiB) to every other doorbell of the directory; returns at
    /// once. Sent with plain non-blocking `sendto` calls on a socket of its own (microseconds
    /// each), so that a dead peer's refusal cannot disturb the listening channel.
    public func ring(_ payload: [UInt8]) {
        var failed = false
        sender.withLock { descriptor in
            guard let descriptor else { return }
            for peer in currentPeers() {
                switch Self.send(payload, to: peer, descriptor: descriptor) {
                case .sent, .busy: continue
                case .gone:
                    // Nobody listens there any more (its process died): the file goes.
                    try? FileManager.default.removeItem(atPath: peer)
                    failed = true
                case .failed:
                    failed = true
                }
            }
        }
        if failed { peers.withLock { $0.listedAt = nil } }
    }

    private enum SendOutcome { case sent, busy, gone, failed }

    private static func send(_ payload: [UInt8], to peer: String, descriptor: Int32) -> SendOutcome {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(peer.utf8)
        guard bytes.count < capacity else { return .failed }
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: bytes)
            path[bytes.count] = 0
        }
        let result = payload.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), socketAddress,
                           socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        if result >= 0 { return .sent }
        switch errno {
        case EAGAIN, EWOULDBLOCK, ENOBUFS: return .busy
        case ECONNREFUSED, ENOENT, ENOTSOCK: return .gone
        default: return .failed
        }
    }

    /// Stops listening and removes this doorbell's socket.
    public func close() async {
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: path)
        sender.withLock { descriptor in
            if let open = descriptor { _ = Glibc.close(open) }
            descriptor = nil
        }
    }

    private func currentPeers() -> [String] {
        let now = ContinuousClock.now
        if let cached = peers.withLock({ peers in peers.listedAt.map { now - $0 < .seconds(1) } == true ? peers.paths : nil }) {
            return cached
        }
        let own = (path as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let paths = names.filter { $0.hasSuffix(".sock") && $0 != own }.map { (directory as NSString).appendingPathComponent($0) }
        peers.withLock { $0 = Peers(paths: paths, listedAt: now) }
        return paths
    }
}

/// Hands each datagram's bytes to the doorbell's owner.
private final class RingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let onRing: @Sendable ([UInt8]) -> Void

    init(onRing: @escaping @Sendable ([UInt8]) -> Void) {
        self.onRing = onRing
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data).data
        onRing(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}
