import Foundation

/// Just enough protobuf to encode a gnostic `openapi.v2.Document`: older kubectl
/// (≤ 1.28) downloads `/openapi/v2` as protobuf before it validates or applies, and fails
/// when it cannot parse it. The document carries no schema definitions, only PATCH
/// operations that declare the `fieldValidation` parameter, so kubectl leaves validation
/// to the server (which validates against the CRD schemas itself).
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func string(_ field: Int, _ value: String) {
        tag(field, 2)
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    mutating func bool(_ field: Int, _ value: Bool) {
        tag(field, 0)
        varint(value ? 1 : 0)
    }

    mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        tag(field, 2)
        varint(UInt64(inner.bytes.count))
        bytes.append(contentsOf: inner.bytes)
    }
}

enum OpenAPIv2Protobuf {
    static let contentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    static func document(registry: ResourceRegistry, version: String) -> Data {
        var document = ProtobufWriter()
        document.string(1, "2.0")                       // swagger
        document.message(2) { info in                    // info
            info.string(1, "Kubernetes")
            info.string(2, version)
        }
        document.message(8) { paths in                   // paths
            for type in registry.types.values.sorted(by: { $0.storageKey < $1.storageKey }) {
                for servedVersion in type.versions {
                    let prefix = type.group.isEmpty ? "/api/\(servedVersion)" : "/apis/\(type.group)/\(servedVersion)"
                    let path = "\(prefix)\(type.namespaced ? "/namespaces/{namespace}" : "")/\(type.plural)/{name}"
                    paths.message(2) { named in          // NamedPathItem
                        named.string(1, path)
                        named.message(2) { item in       // PathItem
                            item.message(8) { operation in   // patch
                                operation.string(5, "patch\(type.kind)")
                                for parameter in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                                    operation.message(8) { items in              // ParametersItem
                                        items.message(1) { parameterMessage in   // Parameter
                                            parameterMessage.message(2) { nonBody in          // NonBodyParameter
                                                nonBody.message(3) { query in                 // QueryParameterSubSchema
                                                    query.string(2, "query")
                                                    query.string(4, parameter)
                                                    query.string(6, "string")
                                                    query.bool(20, true)
                                                }
                                            }
                                        }
                                    }
                                }
                                operation.message(9) { responses in                          // Responses
                                    responses.message(1) { code in                            // NamedResponseValue
                                        code.string(1, "200")
                                        code.message(2) { value in value.message(1) { $0.string(1, "OK") } }
                                    }
                                }
                                operation.message(13) { ext in                                // NamedAny
                                    ext.string(1, "x-kubernetes-group-version-kind")
                                    ext.message(2) { any in
                                        any.string(2, "group: \"\(type.group)\"\nkind: \(type.kind)\nversion: \(servedVersion)\n")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        document.message(9) { _ in }                     // definitions (none)
        return Data(document.bytes)
    }
}
