// swift-tools-version:6.1
import CompilerPluginSupport
import PackageDescription

/// Settings every Tinyflow target is compiled with: Swift 6 language mode
/// (strict concurrency) plus the upcoming features grpc-swift-2 also uses.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "tinyflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tinyflow", targets: ["tinyflow"]),
        .library(name: "ComponentKit", targets: ["ComponentKit"]),
        .library(name: "CRDModels", targets: ["CRDModels"]),
        .library(name: "ModuleHost", targets: ["ModuleHost"]),
        .library(name: "GRPCTransport", targets: ["GRPCTransport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-syntax", from: "603.0.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // JSON values, JSON Schema, schema validation and the `@Schema` derivation macro.
        .target(
            name: "JSONSchemaKit",
            dependencies: ["JSONSchemaMacros"],
            swiftSettings: strictSettings
        ),
        .macro(
            name: "JSONSchemaMacros",
            dependencies: [
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftSyntaxBuilder", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
                .product(name: "SwiftDiagnostics", package: "swift-syntax"),
            ],
            swiftSettings: strictSettings
        ),
        // Kubernetes object metadata, conditions, times and the CRD document types.
        .target(
            name: "KubernetesModels",
            dependencies: ["JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // The tinyflow.dev/v1alpha1 API types and the CRDs generated from them.
        .target(
            name: "CRDModels",
            dependencies: ["KubernetesModels", "JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // YAML manifests read into and written from the API types.
        .target(
            name: "Manifests",
            dependencies: [
                "CRDModels",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // What component authors implement.
        .target(
            name: "ComponentKit",
            dependencies: [
                "CRDModels",
                "JSONSchemaKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The standard components: the `common` module.
        .target(
            name: "CommonComponents",
            dependencies: [
                "ComponentKit",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The process that runs a module's nodes.
        .target(
            name: "ModuleHost",
            dependencies: [
                "ComponentKit",
                "CRDModels",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Cross-module messages and the module host's control API over gRPC (HTTP/2).
        .target(
            name: "GRPCTransport",
            dependencies: [
                "ModuleHost",
                "ComponentKit",
                "JSONSchemaKit",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Reconciles TinyNode/TinyModule/TinyFlow resources into running nodes.
        .target(
            name: "Operator",
            dependencies: [
                "CRDModels",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The command-line entry point: argument parsing and wiring only.
        .executableTarget(
            name: "tinyflow",
            dependencies: [
                "CRDModels",
                "CommonComponents",
                "Manifests",
                "ModuleHost",
                "Operator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // Helpers shared by the test targets.
        .target(
            name: "TestSupport",
            dependencies: ["ComponentKit", "JSONSchemaKit"],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "JSONSchemaKitTests",
            dependencies: ["JSONSchemaKit", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KubernetesModelsTests",
            dependencies: ["KubernetesModels", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CRDModelsTests",
            dependencies: [
                "CRDModels", "KubernetesModels", "Manifests", "TestSupport",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ComponentKitTests",
            dependencies: ["ComponentKit", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ModuleHostTests",
            dependencies: ["ModuleHost", "CommonComponents", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GRPCTransportTests",
            dependencies: [
                "GRPCTransport", "ModuleHost", "ComponentKit", "JSONSchemaKit", "TestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OperatorTests",
            dependencies: ["Operator", "CRDModels", "TestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
