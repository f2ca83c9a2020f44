import BearerTokens
import GRPCCore

/// The metadata key callers put their token under.
let authorizationKey = "authorization"

/// Refuses every call that does not carry `authorization: Bearer <token>`: a module host
/// in local mode serves only the operator and the module hosts of its own `tinyflow up`,
/// which read the token from a file only the user can read.
struct BearerTokenServerInterceptor: ServerInterceptor {
    let expected: String

    init(token: String) {
        expected = "Bearer \(token)"
    }

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let given = request.metadata[stringValues: authorizationKey].first(where: { _ in true })
        guard let given, BearerToken.constantTimeEqual(given, expected) else {
            throw RPCError(
                code: .unauthenticated,
                message: given == nil ? "this module host requires a bearer token" : "the bearer token is not this module host's")
        }
        return try await next(request, context)
    }
}

/// Adds `authorization: Bearer <token>` to every call a client makes.
struct BearerTokenClientInterceptor: ClientInterceptor {
    let value: String

    init(token: String) {
        value = "Bearer \(token)"
    }

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString(value, forKey: authorizationKey)
        return try await next(request, context)
    }
}

/// The server interceptors of a host that requires `token` (none without one).
func serverInterceptors(requiring token: String?) -> [any ServerInterceptor] {
    token.map { [BearerTokenServerInterceptor(token: $0)] } ?? []
}

/// The client interceptors that send `token` (none without one).
func clientInterceptors(sending token: String?) -> [any ClientInterceptor] {
    token.map { [BearerTokenClientInterceptor(token: $0)] } ?? []
}
