import NIOCore

/// Tells when the client of a streaming response has gone: the channel closed, or — as
/// Hummingbird keeps half-closed connections open — the client closed its side. A watch
/// whose client left ends then, instead of at the next event written to nobody.
final class ClientGoneHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private let onGone: @Sendable () -> Void

    private init(onGone: @escaping @Sendable () -> Void) {
        self.onGone = onGone
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { onGone() }
        context.fireUserInboundEventTriggered(event)
    }

    /// Calls `onGone` (perhaps more than once) when `channel`'s client goes; returns what
    /// stops watching once the response has ended, so a keep-alive connection does not
    /// collect handlers.
    static func watch(_ channel: any Channel, onGone: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        channel.closeFuture.whenComplete { _ in onGone() }
        let handler = ClientGoneHandler(onGone: onGone)
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }
        return {
            channel.eventLoop.execute {
                _ = try? channel.pipeline.syncOperations.removeHandler(handler)
            }
        }
    }
}
