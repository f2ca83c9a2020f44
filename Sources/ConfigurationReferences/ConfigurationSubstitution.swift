public import JSONSchemaKit

/// A `${…}` that is not a reference Tinyflow knows, with the path of the string that holds it:
/// a schema violation like any other wrong value of a configuration.
public typealias ReferenceSyntaxError = SchemaViolation

/// The substitution of ``ConfigurationReference``s in port configurations: one pure
/// function over `JSONValue`, used by the operator (to check references and put in
/// literal parameters for validation) and by the module host (to put in every value
/// before the component sees the configuration).
///
/// Only strings are looked at, object keys never. In a string:
/// - `$${` is a literal `${` (and nothing else is an escape: a `$` elsewhere is a `$`);
/// - `${secret:NAME/KEY}`, `${configmap:NAME/KEY}` and `${param:NAME}` are references;
///   any other `${…}`, or one without its `}`, is a ``ReferenceSyntaxError``;
/// - a string that is exactly one reference becomes the referenced value itself (a
///   parameter's literal value may be a number, an object…); within other text the
///   value is put in as text (a string as it is, any other value as its JSON).
///
/// `{{ … }}` is not touched: expressions evaluated per message by components.
public enum ConfigurationSubstitution {
    /// One piece of a string: text, or a reference.
    public enum Segment: Hashable, Sendable {
        /// Literal text (escapes already undone).
        case text(String)
        /// A reference.
        case reference(ConfigurationReference)
    }

    /// The pieces of `string`, or `nil` when it holds no `$` (nothing to do: the common case).
    public static func segments(of string: String, at path: String = "") throws(ReferenceSyntaxError) -> [Segment]? {
        let utf8 = string.utf8
        guard utf8.contains(UInt8(ascii: "$")) else { return nil }
        var segments: [Segment] = []
        var text = ""
        var runStart = utf8.startIndex
        var index = utf8.startIndex
        let dollar = UInt8(ascii: "$"), open = UInt8(ascii: "{"), close = UInt8(ascii: "}")
        func byte(at offset: Int, from position: String.Index) -> UInt8? {
            guard let at = utf8.index(position, offsetBy: offset, limitedBy: utf8.endIndex), at < utf8.endIndex else { return nil }
            return utf8[at]
        }
        while index < utf8.endIndex {
            guard utf8[index] == dollar else {
                index = utf8.index(after: index)
                continue
            }
            if byte(at: 1, from: index) == dollar, byte(at: 2, from: index) == open {
                // `$${`: a literal `${`.
                text += string[runStart..<index]
                text += "${"
                index = utf8.index(index, offsetBy: 3)
                runStart = index
                continue
            }
            guard byte(at: 1, from: index) == open else {
                index = utf8.index(after: index)
                continue
            }
            let bodyStart = utf8.index(index, offsetBy: 2)
            guard let bodyEnd = utf8[bodyStart...].firstIndex(of: close) else {
                throw ReferenceSyntaxError(
                    path: path, message: "\"${\" without its \"}\" (write \"$${\" for a literal \"${\")")
            }
            text += string[runStart..<index]
            if !text.isEmpty { segments.append(.text(text)) }
            text = ""
            segments.append(.reference(try reference(String(string[bodyStart..<bodyEnd]), at: path)))
            index = utf8.index(after: bodyEnd)
            runStart = index
        }
        text += string[runStart..<utf8.endIndex]
        if !text.isEmpty || segments.isEmpty { segments.append(.text(text)) }
        return segments
    }

    /// Every reference in `value` with the path of the string that holds it, in document
    /// order; syntax errors are collected, not thrown, so that all of them can be reported.
    public static func references(
        in value: JSONValue, at path: String
    ) -> (references: [(path: String, reference: ConfigurationReference)], errors: [ReferenceSyntaxError]) {
        var found: [(path: String, reference: ConfigurationReference)] = []
        var errors: [ReferenceSyntaxError] = []
        visitStrings(in: value, at: path) { string, path in
            do throws(ReferenceSyntaxError) {
                for case .reference(let reference) in try segments(of: string, at: path) ?? [] { found.append((path, reference)) }
            } catch {
                errors.append(error)
            }
        }
        return (found, errors)
    }

    /// Whether `value` holds a `$` in any string: only such values can change by substitution.
    public static func mayHoldReferences(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let string): string.utf8.contains(UInt8(ascii: "$"))
        case .array(let elements): elements.contains(where: mayHoldReferences)
        case .object(let members): members.values.contains(where: mayHoldReferences)
        case .null, .bool, .integer, .number: false
        }
    }

    /// `value` with every reference replaced by what `resolve` gives for it (called with the
    /// reference and the path of its string) and every `$${` by `${`. Throws the first
    /// ``ReferenceSyntaxError`` or error of `resolve`.
    public static func substitute(
        _ value: JSONValue, at path: String, resolve: (ConfigurationReference, String) throws -> JSONValue
    ) throws -> JSONValue {
        switch value {
        case .string(let string):
            guard let segments = try segments(of: string, at: path) else { return value }
            if segments.count == 1, case .reference(let reference) = segments[0] {
                return try resolve(reference, path)
            }
            var result = ""
            for segment in segments {
                switch segment {
                case .text(let text): result += text
                case .reference(let reference):
                    let resolved = try resolve(reference, path)
                    result += resolved.stringValue ?? resolved.jsonString
                }
            }
            return .string(result)
        case .array(let elements):
            guard elements.contains(where: mayHoldReferences) else { return value }
            return .array(try elements.enumerated().map { index, element in
                try substitute(element, at: "\(path)[\(index)]", resolve: resolve)
            })
        case .object(let members):
            guard members.values.contains(where: mayHoldReferences) else { return value }
            var result: [String: JSONValue] = [:]
            result.reserveCapacity(members.count)
            for (key, member) in members {
                result[key] = try substitute(member, at: JSONSchema.memberPath(path, key), resolve: resolve)
            }
            return .object(result)
        case .null, .bool, .integer, .number:
            return value
        }
    }

    // MARK: Parsing

    private static let usage = "expected ${secret:NAME/KEY}, ${configmap:NAME/KEY} or ${param:NAME} (write \"$${\" for a literal \"${\")"

    private static func reference(_ body: String, at path: String) throws(ReferenceSyntaxError) -> ConfigurationReference {
        guard let colon = body.firstIndex(of: ":") else {
            throw ReferenceSyntaxError(path: path, message: "unknown reference \"${\(body)}\": \(usage)")
        }
        let kind = body[..<colon]
        let rest = String(body[body.index(after: colon)...])
        switch kind {
        case "secret", "configmap":
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, isObjectName(parts[0]), isKey(parts[1]) else {
                throw ReferenceSyntaxError(
                    path: path,
                    message: "\"${\(body)}\": expected ${\(kind):NAME/KEY} with NAME a Kubernetes object name "
                        + "(lower-case letters, digits, \"-\" and \".\") and KEY a data key (letters, digits, \"-\", \"_\" and \".\")")
            }
            let reference = ObjectKeyReference(name: String(parts[0]), key: String(parts[1]))
            return kind == "secret" ? .secret(reference) : .configMap(reference)
        case "param":
            guard isParameterName(rest) else {
                throw ReferenceSyntaxError(
                    path: path,
                    message: "\"${\(body)}\": expected ${param:NAME} with NAME of letters, digits, \"-\", \"_\" and \".\"")
            }
            return .parameter(rest)
        default:
            throw ReferenceSyntaxError(path: path, message: "unknown reference \"${\(body)}\": \(usage)")
        }
    }

    /// A DNS subdomain name (RFC 1123), as Secrets and ConfigMaps are named.
    public static func isObjectName(_ name: some StringProtocol) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 253 else { return false }
        let lowerAlphanumeric = { (byte: UInt8) in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return lowerAlphanumeric(first) && lowerAlphanumeric(last)
            && bytes.allSatisfy { lowerAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// A Secret's or ConfigMap's data key: `[-._a-zA-Z0-9]+`, at most 253 characters.
    public static func isKey(_ key: some StringProtocol) -> Bool {
        !key.isEmpty && key.utf8.count <= 253
            && key.utf8.allSatisfy { byte in
                isASCIIAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    /// A flow parameter's name: like a data key.
    public static func isParameterName(_ name: some StringProtocol) -> Bool { isKey(name) }

    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func visitStrings(in value: JSONValue, at path: String, _ body: (String, String) -> Void) {
        switch value {
        case .string(let string): body(string, path)
        case .array(let elements):
            for (index, element) in elements.enumerated() { visitStrings(in: element, at: "\(path)[\(index)]", body) }
        case .object(let members):
            for key in members.keys.sorted() {
                if let member = members[key] { visitStrings(in: member, at: JSONSchema.memberPath(path, key), body) }
            }
        case .null, .bool, .integer, .number: break
        }
    }
}
