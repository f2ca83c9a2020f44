public import CRDModels
import Foundation
public import YAMLValues

/// A YAML manifest that could not be read: invalid YAML, or a document that is
/// not a valid Tinyflow object. Located like every YAML error (file and document).
public typealias ManifestError = YAMLError

/// The Tinyflow objects in a set of YAML manifests.
public struct FlowManifest: Sendable {
    /// The TinyNodes, in file order.
    public var nodes: [TinyNode] = []
    /// The TinyFlows.
    public var flows: [TinyFlow] = []
    /// The TinyModules.
    public var modules: [TinyModule] = []

    /// Creates an empty manifest.
    public init() {}

    /// Reads every document of a YAML text; unknown kinds are an error that
    /// names the document.
    public init(yaml text: String, source: String = "<input>") throws(ManifestError) {
        for (index, document) in try YAMLDocuments.parse(text, source: source).enumerated() {
            let location = "\(source)#\(index + 1)"
            let kind = document["kind"]?.stringValue ?? ""
            let apiVersion = document["apiVersion"]?.stringValue ?? ""
            do {
                switch (apiVersion, kind) {
                case (TinyNode.apiVersion, TinyNode.kind): nodes.append(try document.decode(as: TinyNode.self))
                case (TinyFlow.apiVersion, TinyFlow.kind): flows.append(try document.decode(as: TinyFlow.self))
                case (TinyModule.apiVersion, TinyModule.kind): modules.append(try document.decode(as: TinyModule.self))
                default:
                    throw ManifestError(
                        location: location,
                        message: "unsupported object \(apiVersion.isEmpty ? "?" : apiVersion)/\(kind.isEmpty ? "?" : kind); expected TinyNode, TinyFlow or TinyModule of \(TinyNode.apiVersion)"
                    )
                }
            } catch let error as ManifestError {
                throw error
            } catch {
                throw ManifestError(location: location, message: "invalid \(kind): \(Self.describe(error))")
            }
        }
    }

    /// Reads a manifest file.
    public init(contentsOf path: String) throws(ManifestError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(location: path, message: "cannot read the file")
        }
        try self.init(yaml: String(decoding: data, as: UTF8.self), source: path)
    }

    /// A decoding error as `field.path: what went wrong`.
    static func describe(_ error: any Error) -> String {
        guard let decodingError = error as? DecodingError else { return "\(error)" }
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { result, key in
                if let index = key.intValue { return "\(result)[\(index)]" }
                return result.isEmpty ? key.stringValue : "\(result).\(key.stringValue)"
            }
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "\(parent.isEmpty ? "" : parent + ".")\(key.stringValue): required field is missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), got null"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
