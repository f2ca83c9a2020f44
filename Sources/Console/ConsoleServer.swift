import Foundation
import HTTPTypes
import Hummingbird
public import Logging
public import ServiceLifecycle

/// `tinyflow console` as a `Service`: the page (`/`, `/assets/NAME`) and the flows
/// API (`/api/…`, docs/console.md) on a loopback address, the API only for the holder
/// of ``Configuration/token``. Everything the API does is a call of ``FlowsAPI``, i.e.
/// of the Kubernetes API with the user's credentials.
public struct ConsoleServer: Service {
    /// Where and for whom it serves.
    public struct Configuration: Sendable {
        /// The address to listen on: a loopback address.
        public var host: String = "127.0.0.1"
        /// The port (0 picks a free one).
        public var port: Int = 0
        /// The login token: a random one per run unless given.
        public var token: String
        /// The largest request body read (a deploy of a big flow).
        public var maximumBodyBytes: Int = 8 << 20

        /// A configuration with `token`.
        public init(host: String = "127.0.0.1", port: Int = 0, token: String) {
            self.host = host
            self.port = port
            self.token = token
        }
    }

    private let application: Application<RouterResponder<BasicRequestContext>>

    /// A server for `api`; `onServerRunning` gets the port once it listens.
    public init(
        api: FlowsAPI, configuration: Configuration, logger: Logger = Logger(label: "tinyflow.console"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let router = Router()
        router.add(middleware: LoopbackHostMiddleware())
        router.get("/") { _, _ in Self.asset(ConsoleAssets.index) }
        router.get("/assets/:name") { _, context -> Response in
            guard let name = context.parameters.get("name"), let asset = ConsoleAssets.byName[name] else {
                return Response(status: .notFound, body: ResponseBody(byteBuffer: ByteBuffer(string: "no such file")))
            }
            return Self.asset(asset)
        }
        let routes = router.group("api").add(middleware: TokenMiddleware(token: configuration.token))
        FlowsRoutes(api: api, maximumBodyBytes: configuration.maximumBodyBytes, logger: logger).register(on: routes)
        application = Application(
            router: router, configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    /// Serves until graceful shutdown.
    public func run() async throws { try await application.run() }

    /// The URL to open: the token in the fragment, which browsers never send.
    public static func url(host: String = "127.0.0.1", port: Int, token: String) -> String {
        "http://\(host):\(port)/#token=\(token)"
    }

    private static func asset(_ asset: ConsoleAssets.Asset) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: asset.contentType, .cacheControl: "no-cache",
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
                .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}

extension HTTPField.Name {
    /// `Referrer-Policy`.
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!  // a valid field name: cannot fail
}
