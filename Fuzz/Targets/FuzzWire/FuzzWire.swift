import FuzzSupport
import GRPCTransport

/// Fuzzes the cross-module wire decoders: the `Deliver` batches a module host accepts from
/// any peer, the ack batches a sender reads back, and the JSON bodies of the control calls
/// (`SyncNodes`, `Catalogue`, `RecentMessages`, `Context`, `WatchNodeStatus`) and their
/// answers. The first byte picks the decoder, the rest is the frame;
/// `WireFuzzing.decode(selector:frame:)` checks that a decoded batch encodes back to a frame
/// that decodes to the same messages.
@main
enum FuzzWire {
    static func main() {
        FuzzDriver.main("FuzzWire", test)
    }

    static func test(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        WireFuzzing.decode(selector: selector, frame: UnsafeRawBufferPointer(rebasing: input.dropFirst()))
    }
}
