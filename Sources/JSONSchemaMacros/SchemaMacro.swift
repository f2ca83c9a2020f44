import SwiftCompilerPlugin
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// The compiler plugin that provides `@Schema` and `@SchemaField`.
@main
struct JSONSchemaMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [SchemaMacro.self, SchemaFieldMacro.self]
}

/// `@SchemaField(...)`: a marker read by `@Schema`; expands to nothing.
public struct SchemaFieldMacro: PeerMacro {
    public static func expansion(
        of node: AttributeSyntax, providingPeersOf declaration: some DeclSyntaxProtocol,
        in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        guard declaration.is(VariableDeclSyntax.self) else {
            throw SchemaMacroError("@SchemaField applies to stored properties of a @Schema type")
        }
        return []
    }
}

/// An error the macro reports at the attribute.
struct SchemaMacroError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `@Schema`: derives `JSONSchemaRepresentable` (and a defaults-aware
/// `init(from:)` for `Codable` structs) from a type's declaration.
public struct SchemaMacro: ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax, attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol, conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        let access = accessPrefix(of: declaration.modifiers)
        let description = documentation(of: declaration)
        let members: String
        if let structDecl = declaration.as(StructDeclSyntax.self) {
            members = try structMembers(structDecl, access: access, description: description)
        } else if let enumDecl = declaration.as(EnumDeclSyntax.self) {
            members = try enumMembers(enumDecl, access: access, description: description)
        } else {
            throw SchemaMacroError("@Schema applies to structs and to enums with String or Int raw values")
        }
        let conformance = protocols.isEmpty ? "" : ": JSONSchemaKit.JSONSchemaRepresentable"
        let source: DeclSyntax = """
            extension \(type.trimmed)\(raw: conformance) {
            \(raw: members)
            }
            """
        guard let extensionDecl = source.as(ExtensionDeclSyntax.self) else {
            throw SchemaMacroError("@Schema could not build its extension")
        }
        return [extensionDecl]
    }

    // MARK: Structs

    private struct StoredProperty {
        var name: String
        var key: String
        var type: TypeSyntax
        var initializer: ExprSyntax?
        var description: String?
        var fieldArguments: [String]
        var isOptional: Bool { SchemaMacro.wrappedOptional(type) != nil }
    }

    private static func structMembers(
        _ decl: StructDeclSyntax, access: String, description: String?
    ) throws -> String {
        let codingKeys = codingKeyNames(in: decl.memberBlock)
        var properties: [StoredProperty] = []
        var hasDecoderInit = false
        for member in decl.memberBlock.members {
            if let initializer = member.decl.as(InitializerDeclSyntax.self),
                initializer.signature.parameterClause.parameters.first?.firstName.text == "from"
            {
                hasDecoderInit = true
            }
            guard let variable = member.decl.as(VariableDeclSyntax.self) else { continue }
            properties += try storedProperties(of: variable, codingKeys: codingKeys)
        }

        var lines: [String] = []
        lines.append("\(access)static var jsonSchema: JSONSchemaKit.JSONSchema {")
        lines.append("var schema = JSONSchemaKit.JSONSchema.object(description: \(literal(description)))")
        for property in properties {
            var arguments = ["description: \(literal(property.description))"]
            if let initializer = property.initializer, !initializer.is(NilLiteralExprSyntax.self) {
                arguments.append(
                    "default: JSONSchemaKit.JSONValue.schemaDefault((\(initializer.trimmed)) as \(property.type.trimmed))"
                )
            }
            arguments += property.fieldArguments
            let required = !property.isOptional && property.initializer == nil
            lines.append(
                "schema.addProperty(\(literal(property.key)), JSONSchemaKit.JSONSchema.of(\(property.type.trimmed).self).with(\(arguments.joined(separator: ", "))), required: \(required))"
            )
        }
        lines.append("return schema")
        lines.append("}")

        let isDecodable = decl.inheritanceClause?.inheritedTypes.contains {
            let name = $0.type.trimmedDescription
            return name == "Codable" || name == "Decodable"
        } ?? false
        if isDecodable, !hasDecoderInit, properties.contains(where: { $0.initializer != nil }) {
            lines.append("enum SchemaCodingKeys: String, CodingKey {")
            for property in properties {
                lines.append("case `\(property.name)` = \(literal(property.key))")
            }
            lines.append("}")
            lines.append("\(access)init(from decoder: any Decoder) throws {")
            lines.append("let container = try decoder.container(keyedBy: SchemaCodingKeys.self)")
            for property in properties {
                let target = "self.`\(property.name)`"
                if let wrapped = wrappedOptional(property.type) {
                    let fallback = property.initializer.map { " ?? (\($0.trimmed))" } ?? ""
                    lines.append(
                        "\(target) = try container.decodeIfPresent(\(wrapped.trimmed).self, forKey: .`\(property.name)`)\(fallback)"
                    )
                } else if let initializer = property.initializer {
                    lines.append(
                        "\(target) = try container.decodeIfPresent(\(property.type.trimmed).self, forKey: .`\(property.name)`) ?? (\(initializer.trimmed))"
                    )
                } else {
                    lines.append(
                        "\(target) = try container.decode(\(property.type.trimmed).self, forKey: .`\(property.name)`)"
                    )
                }
            }
            lines.append("}")
        }
        return lines.joined(separator: "\n")
    }

    private static func storedProperties(
        of variable: VariableDeclSyntax, codingKeys: [String: String]?
    ) throws -> [StoredProperty] {
        let modifiers = variable.modifiers.map(\.name.text)
        if modifiers.contains("static") || modifiers.contains("class") || modifiers.contains("lazy") {
            return []
        }
        let isLet = variable.bindingSpecifier.tokenKind == .keyword(.let)
        var result: [StoredProperty] = []
        for binding in variable.bindings {
            if let accessors = binding.accessorBlock, isComputed(accessors) { continue }
            if isLet, binding.initializer != nil { continue }  // constants are not decoded
            guard let pattern = binding.pattern.as(IdentifierPatternSyntax.self) else { continue }
            let name = pattern.identifier.text.trimmingCharacters(in: "`")
            guard let type = binding.typeAnnotation?.type else {
                throw SchemaMacroError(
                    "@Schema needs a type annotation on '\(name)' to derive its schema")
            }
            let key: String
            if let codingKeys {
                guard let mapped = codingKeys[name] else { continue }
                key = mapped
            } else {
                key = name
            }
            result.append(
                StoredProperty(
                    name: name, key: key, type: type, initializer: binding.initializer?.value,
                    description: documentation(of: variable),
                    fieldArguments: schemaFieldArguments(of: variable.attributes)))
        }
        return result
    }

    private static func isComputed(_ accessors: AccessorBlockSyntax) -> Bool {
        switch accessors.accessors {
        case .getter: return true
        case .accessors(let list):
            return list.contains {
                let kind = $0.accessorSpecifier.tokenKind
                return kind != .keyword(.willSet) && kind != .keyword(.didSet)
            }
        }
    }

    private static func schemaFieldArguments(of attributes: AttributeListSyntax) -> [String] {
        for element in attributes {
            guard case .attribute(let attribute) = element,
                attribute.attributeName.trimmedDescription == "SchemaField",
                case .argumentList(let arguments)? = attribute.arguments
            else { continue }
            return arguments.compactMap { argument in
                guard let label = argument.label?.text else { return nil }
                return "\(label): \(argument.expression.trimmed)"
            }
        }
        return []
    }

    /// The names `CodingKeys` maps properties to, if the type declares it.
    private static func codingKeyNames(in members: MemberBlockSyntax) -> [String: String]? {
        for member in members.members {
            guard let enumDecl = member.decl.as(EnumDeclSyntax.self), enumDecl.name.text == "CodingKeys"
            else { continue }
            var names: [String: String] = [:]
            for caseMember in enumDecl.memberBlock.members {
                guard let caseDecl = caseMember.decl.as(EnumCaseDeclSyntax.self) else { continue }
                for element in caseDecl.elements {
                    let name = element.name.text.trimmingCharacters(in: "`")
                    names[name] = element.rawValue.flatMap { stringLiteral($0.value) } ?? name
                }
            }
            return names
        }
        return nil
    }

    // MARK: Enums

    private static func enumMembers(
        _ decl: EnumDeclSyntax, access: String, description: String?
    ) throws -> String {
        let inherited = decl.inheritanceClause?.inheritedTypes.map(\.type.trimmedDescription) ?? []
        let isString = inherited.contains("String")
        let isInt = inherited.contains("Int")
        guard isString || isInt else {
            throw SchemaMacroError("@Schema enums need String or Int raw values")
        }
        var values: [String] = []
        var nextInt = 0
        for member in decl.memberBlock.members {
            guard let caseDecl = member.decl.as(EnumCaseDeclSyntax.self) else { continue }
            for element in caseDecl.elements {
                if element.parameterClause != nil {
                    throw SchemaMacroError(
                        "@Schema enums cannot have associated values ('\(element.name.text)')")
                }
                let name = element.name.text.trimmingCharacters(in: "`")
                if isString {
                    let raw = element.rawValue.flatMap { stringLiteral($0.value) } ?? name
                    values.append("JSONSchemaKit.JSONValue.string(\(literal(raw)))")
                } else {
                    if let raw = element.rawValue?.value.as(IntegerLiteralExprSyntax.self),
                        let value = Int(raw.literal.text.filter { $0 != "_" })
                    {
                        nextInt = value
                    }
                    values.append("JSONSchemaKit.JSONValue.integer(\(nextInt))")
                    nextInt += 1
                }
            }
        }
        return """
            \(access)static var jsonSchema: JSONSchemaKit.JSONSchema {
            var schema = JSONSchemaKit.JSONSchema(type: .\(isString ? "string" : "integer"), description: \(literal(description)))
            schema.enumValues = [\(values.joined(separator: ", "))]
            return schema
            }
            """
    }

    // MARK: Helpers

    static func wrappedOptional(_ type: TypeSyntax) -> TypeSyntax? {
        if let optional = type.as(OptionalTypeSyntax.self) { return optional.wrappedType }
        if let optional = type.as(ImplicitlyUnwrappedOptionalTypeSyntax.self) {
            return optional.wrappedType
        }
        if let identifier = type.as(IdentifierTypeSyntax.self), identifier.name.text == "Optional",
            let argument = identifier.genericArgumentClause?.arguments.first
        {
            return TypeSyntax(argument.argument)
        }
        return nil
    }

    private static func accessPrefix(of modifiers: DeclModifierListSyntax) -> String {
        for modifier in modifiers {
            switch modifier.name.text {
            case "public", "open": return "public "
            case "package": return "package "
            default: continue
            }
        }
        return ""
    }

    /// The `///` or `/** */` comment before a declaration, as one paragraph per blank line.
    private static func documentation(of node: some SyntaxProtocol) -> String? {
        var lines: [String] = []
        for piece in node.leadingTrivia {
            switch piece {
            case .docLineComment(let text):
                lines.append(String(text.dropFirst(3)).trimmingCharacters(in: " "))
            case .docBlockComment(let text):
                let body = text.dropFirst(3).dropLast(2)
                lines += body.split(separator: "\n", omittingEmptySubsequences: false).map {
                    String($0).trimmingCharacters(in: " *")
                }
            default:
                continue
            }
        }
        var paragraphs: [String] = []
        var current: [String] = []
        for line in lines {
            if line.isEmpty {
                if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
                current = []
            } else {
                current.append(line)
            }
        }
        if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
        return paragraphs.isEmpty ? nil : paragraphs.joined(separator: "\n\n")
    }

    private static func stringLiteral(_ expression: ExprSyntax) -> String? {
        guard let literal = expression.as(StringLiteralExprSyntax.self) else { return nil }
        var text = ""
        for segment in literal.segments {
            guard let part = segment.as(StringSegmentSyntax.self) else { return nil }
            text += part.content.text
        }
        return text
    }

    /// A Swift string literal (or `nil`) for generated code.
    private static func literal(_ value: String?) -> String {
        guard let value else { return "nil" }
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
