import Foundation
import JSONSchemaKit

/// Where a service-proxy request is forwarded: one ready endpoint of the service.
struct ServiceProxyTarget: Sendable, Equatable {
    var namespace: String
    /// The service's name (without port or scheme).
    var service: String
    /// The endpoint's IP address, as the Endpoints object lists it.
    var ip: String
    var port: Int
    /// The path below `/proxy`, still percent-encoded, starting with `/`.
    var path: String

    /// `http://IP:PORT/PATH[?QUERY]` (IPv6 addresses in brackets).
    func url(query: String?) -> String {
        let host = ip.contains(":") ? "[\(ip)]" : ip
        let suffix = query.map { $0.isEmpty ? "" : "?" + $0 } ?? ""
        return "http://\(host):\(port)\(path)\(suffix)"
    }
}

/// How the service proxy picks a backend, as kube-apiserver does
/// (`pkg/registry/core/service/storage`, `ResourceLocation`), from the Service and the
/// Endpoints object of the same name. Pure: no store, no I/O.
///
/// * The path names the service as `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT`, where PORT is a
///   service port's name or number; without PORT the service's only port is meant.
/// * The backend is the first ready address (`subsets[].addresses[].ip`) of a subset that
///   has an endpoint port with that service port's name (or only one, unnamed, port); its
///   number is the endpoint port's (or, for a subset listing no ports, the service port's
///   numeric `targetPort`).
enum ServiceProxy {
    /// The parts of a service id; `400` for one kube-apiserver refuses too, and for `https:`,
    /// which this proxy does not speak.
    static func parseID(_ id: String) throws(APIError) -> (name: String, port: String) {
        let parts = id.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let scheme: String, name: String, port: String
        switch parts.count {
        case 1: (scheme, name, port) = ("", parts[0], "")
        case 2: (scheme, name, port) = ("", parts[0], parts[1])
        case 3: (scheme, name, port) = (parts[0], parts[1], parts[2])
        default: throw APIError.badRequest("invalid service request \"\(id)\"")
        }
        guard !name.isEmpty, ["", "http", "https"].contains(scheme) else {
            throw APIError.badRequest("invalid service request \"\(id)\"")
        }
        if scheme == "https" {
            throw APIError.badRequest("invalid service request \"\(id)\": this control plane's service proxy speaks plain HTTP to endpoints; use \(name)\(port.isEmpty ? "" : ":" + port) or http:\(name):\(port)")
        }
        return (name, port)
    }

    /// The endpoint a request for `id` in `namespace` goes to, given the Service and Endpoints
    /// objects of that name (nil when absent).
    ///
    /// Errors, with kube-apiserver's codes: `404` no such Service; `503` no such service port,
    /// or no ready address with that port (`no endpoints available for service "NAME"`).
    static func resolve(_ proxy: ServiceProxyPath, service: JSONValue?, endpoints: JSONValue?) throws(APIError) -> ServiceProxyTarget {
        let (name, portText) = try parseID(proxy.id)
        guard let service else { throw APIError.notFound(ResourceRegistry.services, name) }
        let ports = service["spec"]?["ports"]?.arrayValue ?? []
        let servicePort: JSONValue
        if portText.isEmpty {
            guard ports.count == 1, let only = ports.first else {
                throw APIError.serviceUnavailable(ports.isEmpty
                    ? "service \"\(name)\" has no ports"
                    : "service \"\(name)\" has \(ports.count) ports; name one: services/\(name):PORT/proxy")
            }
            servicePort = only
        } else if let number = Int(portText) {
            guard let match = ports.first(where: { $0["port"]?.intValue == number }) else {
                throw APIError.serviceUnavailable("no service port \(number) found for service \"\(name)\"")
            }
            servicePort = match
        } else {
            guard let match = ports.first(where: { $0["name"]?.stringValue == portText }) else {
                throw APIError.serviceUnavailable("no service port \"\(portText)\" found for service \"\(name)\"")
            }
            servicePort = match
        }
        let portName = servicePort["name"]?.stringValue ?? ""
        let targetPort = servicePort["targetPort"]?.intValue ?? servicePort["port"]?.intValue
        for subset in endpoints?["subsets"]?.arrayValue ?? [] {
            guard let ip = (subset["addresses"]?.arrayValue ?? []).lazy.compactMap({ $0["ip"]?.stringValue }).first(where: { !$0.isEmpty })
            else { continue }
            let endpointPorts = subset["ports"]?.arrayValue ?? []
            let port: Int?
            if endpointPorts.isEmpty {
                port = targetPort
            } else if let named = endpointPorts.first(where: { ($0["name"]?.stringValue ?? "") == portName }) {
                port = named["port"]?.intValue
            } else if endpointPorts.count == 1, (endpointPorts[0]["name"]?.stringValue ?? "").isEmpty {
                port = endpointPorts[0]["port"]?.intValue
            } else {
                port = nil
            }
            guard let port, (1...65535).contains(port) else { continue }
            return ServiceProxyTarget(namespace: proxy.namespace, service: name, ip: ip, port: port, path: proxy.path)
        }
        throw APIError.serviceUnavailable("no endpoints available for service \"\(name)\"")
    }

    /// Admission's checks of a Service: what the proxy reads (`spec.ports`) must make sense.
    /// Defaults each port's `protocol` (TCP) and `targetPort` (the port), as kube-apiserver does.
    static func validateService(_ object: inout JSONValue) -> [(field: String, message: String, type: String)] {
        guard let spec = object["spec"] else { return [] }
        guard spec.objectValue != nil else { return [("spec", "Invalid value: must be an object", "FieldValueTypeInvalid")] }
        guard let rawPorts = spec["ports"] else { return [] }
        guard var ports = rawPorts.arrayValue else { return [("spec.ports", "Invalid value: must be a list", "FieldValueTypeInvalid")] }
        var causes: [(field: String, message: String, type: String)] = []
        var names: Set<String> = []
        for index in ports.indices {
            let field = "spec.ports[\(index)]"
            guard ports[index].objectValue != nil else {
                causes.append((field, "Invalid value: must be an object", "FieldValueTypeInvalid"))
                continue
            }
            let port = ports[index]["port"]?.intValue
            if port == nil || !(1...65535).contains(port ?? 0) {
                causes.append((field + ".port", "Invalid value: \(ports[index]["port"]?.jsonString ?? "null"): must be between 1 and 65535, inclusive", "FieldValueInvalid"))
            }
            causes += checkPortName(ports[index]["name"], field: field + ".name", required: ports.count > 1, names: &names)
            switch ports[index]["targetPort"] {
            case nil, .null?:
                if let port { ports[index]["targetPort"] = .integer(port) }
            case .string(let named)? where !named.isEmpty:
                break
            case let value?:
                if let number = value.intValue, (1...65535).contains(number) { break }
                causes.append((field + ".targetPort", "Invalid value: \(value.jsonString): must be a port number between 1 and 65535 or a port name", "FieldValueInvalid"))
            }
            if ports[index]["protocol"] == nil { ports[index]["protocol"] = "TCP" }
        }
        object["spec"]?["ports"] = .array(ports)
        return causes
    }

    /// Admission's checks of an Endpoints object: addresses are IP addresses, ports numbers.
    static func validateEndpoints(_ object: JSONValue) -> [(field: String, message: String, type: String)] {
        guard let rawSubsets = object["subsets"] else { return [] }
        guard let subsets = rawSubsets.arrayValue else { return [("subsets", "Invalid value: must be a list", "FieldValueTypeInvalid")] }
        var causes: [(field: String, message: String, type: String)] = []
        for (index, subset) in subsets.enumerated() {
            let field = "subsets[\(index)]"
            for list in ["addresses", "notReadyAddresses"] {
                for (position, address) in (subset[list]?.arrayValue ?? []).enumerated() {
                    let ip = address["ip"]?.stringValue ?? ""
                    if !isIPAddress(ip) {
                        causes.append(("\(field).\(list)[\(position)].ip", "Invalid value: \(address["ip"]?.jsonString ?? "null"): must be a valid IP address", "FieldValueInvalid"))
                    }
                }
            }
            let ports = subset["ports"]?.arrayValue ?? []
            var names: Set<String> = []
            for (position, port) in ports.enumerated() {
                let number = port["port"]?.intValue
                if number == nil || !(1...65535).contains(number ?? 0) {
                    causes.append(("\(field).ports[\(position)].port", "Invalid value: \(port["port"]?.jsonString ?? "null"): must be between 1 and 65535, inclusive", "FieldValueInvalid"))
                }
                causes += checkPortName(port["name"], field: "\(field).ports[\(position)].name", required: ports.count > 1, names: &names)
            }
        }
        return causes
    }

    /// A port's name: a DNS label, unique among its siblings, required when there are several.
    private static func checkPortName(_ value: JSONValue?, field: String, required: Bool, names: inout Set<String>) -> [(field: String, message: String, type: String)] {
        guard let value, !value.isNull else {
            return required ? [(field, "Required value", "FieldValueRequired")] : []
        }
        guard let name = value.stringValue else { return [(field, "Invalid value: \(value.jsonString): must be a string", "FieldValueTypeInvalid")] }
        if name.isEmpty { return required ? [(field, "Required value", "FieldValueRequired")] : [] }
        if !Admission.isDNSLabel(name) {
            return [(field, "Invalid value: \"\(name)\": must be a lowercase RFC 1123 label", "FieldValueInvalid")]
        }
        if !names.insert(name).inserted { return [(field, "Duplicate value: \"\(name)\"", "FieldValueDuplicate")] }
        return []
    }

    /// Whether `text` is an IPv4 or IPv6 address literal.
    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}

extension APIError {
    /// `503`: the service proxy has nowhere to send the request.
    static func serviceUnavailable(_ message: String) -> APIError {
        APIError(code: 503, reason: "ServiceUnavailable", message: message)
    }
}
