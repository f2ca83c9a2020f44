import BearerTokens
import Foundation
import HTTPTypes
import Hummingbird

/// Refuses requests whose `Host` is not a loopback name: a page of another site that
/// rebinds its DNS name to 127.0.0.1 sends its own name and gets nothing.
struct LoopbackHostMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    static let loopbackNames: Set<String> = ["127.0.0.1", "localhost", "[::1]"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authority = request.head.authority, Self.loopbackNames.contains(Self.hostName(of: authority)) else {
            return FlowsRoutes.error(ConsoleError(
                status: 403, reason: "Forbidden", message: "the console answers only requests to its loopback address"))
        }
        return try await next(request, context)
    }

    /// `authority` without its port.
    static func hostName(of authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") { return String(authority[...end]).lowercased() }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "").lowercased()
    }
}

/// Serves the API only to the holder of the console's token: `Authorization: Bearer
/// TOKEN`, or the session cookie `POST /api/session` hands out for the page's event
/// stream. Requests that change something must be JSON, which no cross-site form can send.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    /// The session cookie's name.
    static let cookieName = "tinyflow-console"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let bearer = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst("Bearer ".count)) : nil
        }
        let cookie = request.cookies[Self.cookieName]?.value
        guard let given = bearer ?? cookie, BearerToken.constantTimeEqual(given, token) else {
            return FlowsRoutes.error(ConsoleError(
                status: 401, reason: "Unauthorized",
                message: "the console needs the link with its token, as printed by `tinyflow console` or `tinyflow up`"))
        }
        if request.uri.path == "/api/session", request.method == .post {
            guard bearer != nil else {
                return FlowsRoutes.error(ConsoleError(status: 401, reason: "Unauthorized", message: "a session starts with the token in the Authorization header"))
            }
            var response = Response(status: .noContent)
            response.setCookie(Cookie(name: Self.cookieName, value: token, path: "/api", httpOnly: true, sameSite: .strict))
            return response
        }
        if request.method != .get, request.method != .head {
            let type = request.headers[.contentType]?.lowercased() ?? ""
            guard type.hasPrefix("application/json") else {
                return FlowsRoutes.error(ConsoleError(status: 415, reason: "UnsupportedMediaType", message: "send the request body as application/json"))
            }
        }
        return try await next(request, context)
    }
}
