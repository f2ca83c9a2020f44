import Foundation
import JSONSchemaKit

/// Decodes the protobuf request bodies kubectl's typed commands send
/// (`kubectl create namespace|configmap|secret`): the `k8s\0` envelope
/// (`runtime.Unknown`) around a `Namespace`, `ConfigMap` or `Secret`.
/// Only the fields those objects carry on creation are read.
enum KubernetesProtobuf {
    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    struct Reader {
        var bytes: ArraySlice<UInt8>

        mutating func varint() throws(APIError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.first {
                bytes = bytes.dropFirst()
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
                if shift > 63 { break }
            }
            throw APIError.badRequest("malformed protobuf: bad varint")
        }

        /// The next field: its number and, for length-delimited fields, its bytes.
        mutating func field() throws(APIError) -> (number: Int, value: UInt64, data: ArraySlice<UInt8>)? {
            guard !bytes.isEmpty else { return nil }
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: return (number, try varint(), [])
            case 1:
                guard bytes.count >= 8 else { throw APIError.badRequest("malformed protobuf: truncated") }
                bytes = bytes.dropFirst(8); return (number, 0, [])
            case 5:
                guard bytes.count >= 4 else { throw APIError.badRequest("malformed protobuf: truncated") }
                bytes = bytes.dropFirst(4); return (number, 0, [])
            case 2:
                // Compared as UInt64 first: a length past Int.max must be a 400, not a trap.
                let declared = try varint()
                guard declared <= UInt64(bytes.count) else { throw APIError.badRequest("malformed protobuf: truncated") }
                let length = Int(declared)
                let data = bytes.prefix(length)
                bytes = bytes.dropFirst(length)
                return (number, 0, data)
            default:
                throw APIError.badRequest("malformed protobuf: unsupported wire type")
            }
        }
    }

    static func string(_ data: ArraySlice<UInt8>) -> String { String(decoding: data, as: UTF8.self) }

    /// A `map<string, string|bytes>` entry.
    static func entry(_ data: ArraySlice<UInt8>) throws(APIError) -> (String, ArraySlice<UInt8>) {
        var reader = Reader(bytes: data)
        var key = "", value: ArraySlice<UInt8> = []
        while let field = try reader.field() {
            if field.number == 1 { key = string(field.data) } else if field.number == 2 { value = field.data }
        }
        return (key, value)
    }

    static func objectMeta(_ data: ArraySlice<UInt8>) throws(APIError) -> JSONValue {
        var reader = Reader(bytes: data)
        var meta: [String: JSONValue] = [:]
        var labels: [String: JSONValue] = [:], annotations: [String: JSONValue] = [:]
        var finalizers: [JSONValue] = []
        while let field = try reader.field() {
            switch field.number {
            case 1: meta["name"] = .string(string(field.data))
            case 2: meta["generateName"] = .string(string(field.data))
            case 3: meta["namespace"] = .string(string(field.data))
            case 6: meta["resourceVersion"] = .string(string(field.data))
            case 11: let (k, v) = try entry(field.data); labels[k] = .string(string(v))
            case 12: let (k, v) = try entry(field.data); annotations[k] = .string(string(v))
            case 14: finalizers.append(.string(string(field.data)))
            default: break
            }
        }
        if !labels.isEmpty { meta["labels"] = .object(labels) }
        if !annotations.isEmpty { meta["annotations"] = .object(annotations) }
        if !finalizers.isEmpty { meta["finalizers"] = .array(finalizers) }
        return .object(meta)
    }

    /// The JSON form of a protobuf-encoded Namespace, ConfigMap or Secret.
    static func decode(_ body: Data) throws(APIError) -> JSONValue {
        let bytes = [UInt8](body)
        guard bytes.starts(with: magic) else { throw APIError.badRequest("protobuf body without the k8s envelope") }
        var envelope = Reader(bytes: bytes.dropFirst(4))
        var apiVersion = "", kind = ""
        var raw: ArraySlice<UInt8> = []
        while let field = try envelope.field() {
            if field.number == 1 {
                var typeMeta = Reader(bytes: field.data)
                while let member = try typeMeta.field() {
                    if member.number == 1 { apiVersion = string(member.data) } else if member.number == 2 { kind = string(member.data) }
                }
            } else if field.number == 2 {
                raw = field.data
            }
        }
        var object: [String: JSONValue] = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        var reader = Reader(bytes: raw)
        switch kind {
        case "Namespace", "ConfigMap", "Secret":
            var data: [String: JSONValue] = [:], binaryData: [String: JSONValue] = [:], stringData: [String: JSONValue] = [:]
            while let field = try reader.field() {
                switch (kind, field.number) {
                case (_, 1): object["metadata"] = try objectMeta(field.data)
                case ("ConfigMap", 2): let (k, v) = try entry(field.data); data[k] = .string(string(v))
                case ("ConfigMap", 3): let (k, v) = try entry(field.data); binaryData[k] = .string(Data(v).base64EncodedString())
                case ("ConfigMap", 4), ("Secret", 5): object["immutable"] = .bool(field.value != 0)
                case ("Secret", 2): let (k, v) = try entry(field.data); data[k] = .string(Data(v).base64EncodedString())
                case ("Secret", 3): object["type"] = .string(string(field.data))
                case ("Secret", 4): let (k, v) = try entry(field.data); stringData[k] = .string(string(v))
                default: break
                }
            }
            if !data.isEmpty { object["data"] = .object(data) }
            if !binaryData.isEmpty { object["binaryData"] = .object(binaryData) }
            if !stringData.isEmpty { object["stringData"] = .object(stringData) }
        default:
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "protobuf bodies are accepted for Namespace, ConfigMap and Secret only; send \(kind) as application/json")
        }
        return .object(object)
    }
}
