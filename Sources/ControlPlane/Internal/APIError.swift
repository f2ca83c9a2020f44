import Foundation
import JSONSchemaKit

/// A failed API request, rendered as a Kubernetes `Status` object.
struct APIError: Error {
    var code: Int
    var reason: String
    var message: String
    var details: JSONValue? = nil
    var retryAfterSeconds: Int? = nil

    /// The `meta.k8s.io/v1` `Status` body for this error.
    var status: JSONValue {
        var object: [String: JSONValue] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:],
            "status": "Failure", "message": .string(message), "reason": .string(reason),
            "code": .integer(code),
        ]
        if let details { object["details"] = details }
        return .object(object)
    }

    static func details(_ resource: ResourceType?, name: String?, causes: [JSONValue]? = nil) -> JSONValue {
        var d: [String: JSONValue] = [:]
        if let name { d["name"] = .string(name) }
        if let resource {
            if !resource.group.isEmpty { d["group"] = .string(resource.group) }
            d["kind"] = .string(resource.plural)
        }
        if let causes { d["causes"] = .array(causes) }
        return .object(d)
    }

    static func notFound(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(resource.groupResource) \"\(name)\" not found",
                 details: details(resource, name: name))
    }

    static func alreadyExists(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(resource.groupResource) \"\(name)\" already exists",
                 details: details(resource, name: name))
    }

    static func conflict(_ resource: ResourceType, _ name: String) -> APIError {
        APIError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(resource.groupResource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: details(resource, name: name))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    static func invalid(_ resource: ResourceType, _ name: String, _ causes: [(field: String, message: String, type: String)]) -> APIError {
        let text = causes.map { "\($0.field): \($0.message)" }
        let joined = text.count == 1 ? text[0] : "[" + text.joined(separator: ", ") + "]"
        return APIError(
            code: 422, reason: "Invalid",
            message: "\(resource.qualifiedKind) \"\(name)\" is invalid: \(joined)",
            details: details(resource, name: name, causes: causes.map {
                ["reason": .string($0.type), "message": .string($0.message), "field": .string($0.field)]
            }))
    }

    static func methodNotAllowed(_ message: String = "the server does not allow this method on the requested resource") -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: message)
    }

    static func notFoundPath(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource",
                 details: ["causes": [["reason": "UnexpectedServerResponse", "message": .string("404 page not found: \(path)")]]])
    }

    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got \(type))")
    }

    /// `413`: a body over ``ControlPlaneLimits/maxRequestBodyBytes``, refused unread.
    static func requestTooLarge(limit: Int) -> APIError {
        APIError(code: 413, reason: "RequestEntityTooLarge",
                 message: "Request entity too large: limit is \(limit) bytes (\(ObjectSize.describe(limit)))")
    }

    /// `422`: an object that would be stored larger than ``ControlPlaneLimits/maxObjectBytes``.
    static func objectTooLarge(limit: Int, resource: ResourceType? = nil, name: String? = nil) -> APIError {
        let what = resource.map { "\($0.qualifiedKind) \"\(name ?? "")\"" } ?? "the object"
        return APIError(code: 422, reason: "Invalid",
                        message: "\(what) is too large: an object may be at most \(limit) bytes (\(ObjectSize.describe(limit))) as JSON",
                        details: resource.map { details($0, name: name) })
    }

    /// `429`: an in-flight budget of ``ControlPlaneLimits`` is spent; try again after `retryAfter` seconds.
    static func tooManyRequests(_ message: String, retryAfter: Int) -> APIError {
        APIError(code: 429, reason: "TooManyRequests", message: message,
                 details: ["retryAfterSeconds": .integer(retryAfter)], retryAfterSeconds: retryAfter)
    }

    /// `504`: no answer within ``ControlPlaneLimits/requestTimeout``.
    static func timeout(_ timeout: Duration) -> APIError {
        APIError(code: 504, reason: "Timeout",
                 message: "the server was unable to return a response in the time allotted (\(timeout)), but may still be processing the request",
                 details: ["retryAfterSeconds": 1])
    }

    static func internalError(_ message: String) -> APIError {
        APIError(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)")
    }
}

/// A successful `Status` (used by DELETE of types that do not return the deleted object).
func successStatus(_ resource: ResourceType, name: String, uid: String?) -> JSONValue {
    var details: [String: JSONValue] = ["name": .string(name), "kind": .string(resource.plural)]
    if !resource.group.isEmpty { details["group"] = .string(resource.group) }
    if let uid { details["uid"] = .string(uid) }
    return ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": .object(details)]
}
