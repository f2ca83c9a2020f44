#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// A count of things in use (connections, requests in the flow) that never exceeds its
/// limit; shared by the tasks and channel handlers of one `http-server` node.
final class BoundedCounter: Sendable {
    /// The most counted at once.
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts one in; `false` (and not counted) when `limit` are counted already.
    func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue <= limit { return true }
        count.subtract(1, ordering: .relaxed)
        return false
    }

    /// Counts one that entered out.
    func leave() {
        count.subtract(1, ordering: .relaxed)
    }

    /// How many are counted now.
    var current: Int { count.load(ordering: .relaxed) }

    /// `requested` connections, but at most half of the process's open-file limit, so a
    /// flood of connections cannot take the descriptors the rest of the module host needs.
    static func connectionLimit(requested: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return requested }
        let half = Int(clamping: limit.rlim_cur / 2)
        return max(1, min(requested, half))
    }
}

/// Closes a connection as it is accepted when its server already holds
/// ``BoundedCounter/limit`` connections, and counts the ones it lets in until they close.
///
/// Hummingbird's `MaximumAvailableConnections` bounds connections differently: it stops
/// accepting, so clients beyond the cap wait unanswered in the kernel's backlog and, once it
/// is full, in SYN retries. Closing at once tells them straight away.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let count: BoundedCounter
    private var admitted = false
    private var decided = false

    init(count: BoundedCounter) {
        self.count = count
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { decide(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        decide(context)
        if admitted { context.fireChannelActive() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            count.leave()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            count.leave()
        }
    }

    private func decide(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        admitted = count.enter()
        if !admitted { context.close(promise: nil) }
    }
}

/// Closes a connection whose client does not finish sending a request's header within
/// `timeout` of connecting (or of the previous response): a slowloris holding half-sent
/// requests open loses them, a client that sends its header in time is not affected.
final class RequestHeaderTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { disarm() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A keep-alive connection has the same time for its next request's header.
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard scheduled == nil else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        scheduled = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }

    private func disarm() {
        scheduled?.cancel()
        scheduled = nil
    }
}
