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

    /// The connections of every `http-server` node of this process together: at most half of
    /// its open-file limit, so a flood of connections — to one node or to several — cannot
    /// take the descriptors the rest of the module host needs.
    static let processConnections: BoundedCounter = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return BoundedCounter(limit: 4096) }
        return BoundedCounter(limit: max(1, Int(clamping: limit.rlim_cur / 2)))
    }()
}

/// Closes a connection as it is accepted when its server — or the process — already holds as
/// many connections as it may (every ``BoundedCounter`` of `counts` at its limit), and counts
/// the ones it lets in until they close.
///
/// Hummingbird's `MaximumAvailableConnections` bounds connections differently: it stops
/// accepting, so clients beyond the cap wait unanswered in the kernel's backlog and, once it
/// is full, in SYN retries. Closing at once tells them straight away.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let counts: [BoundedCounter]
    private var admitted = false
    private var decided = false

    init(counts: [BoundedCounter]) {
        self.counts = counts
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
            for count in counts { count.leave() }
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            for count in counts { count.leave() }
        }
    }

    private func decide(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        var entered: [BoundedCounter] = []
        for count in counts {
            guard count.enter() else { break }
            entered.append(count)
        }
        admitted = entered.count == counts.count
        if !admitted {
            for count in entered { count.leave() }
            context.close(promise: nil)
        }
    }
}

/// Closes a connection whose client is too slow sending a request: its header must arrive
/// within `headerTimeout` of connecting (or of the previous response), its body within
/// `bodyTimeout` of the header. A slowloris holding half-sent requests — or trickling a body
/// a byte at a time to hold a request slot — loses them; a client that sends in time is not
/// affected.
final class RequestReadTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            disarm()
            arm(context, bodyTimeout)
        case .end:
            disarm()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A keep-alive connection has the same time for its next request's header.
        if case .end = unwrapOutboundIn(data) { arm(context, headerTimeout) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
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
