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

/// The console's page and API document, embedded in the binary (served by name, see
/// Sources/Console/ConsoleAssets.swift): plain HTML, CSS and JavaScript modules, no build step.
let consoleResources = [
    "api.js",
    "app.js",
    "catalogue.js",
    "debug.js",
    "draft.js",
    "forms.js",
    "graph.js",
    "history.js",
    "index.html",
    "layout.js",
    "openapi.json",
    "panel.js",
    "style.css",
    "validate.js",
]

let package = Package(
    name: "tinyflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tinyflow", targets: ["tinyflow"]),
        .library(name: "ComponentKit", targets: ["ComponentKit"]),
        .library(name: "ContextStoreAPI", targets: ["ContextStoreAPI"]),
        .library(name: "ContextStores", targets: ["ContextStores"]),
        .library(name: "CRDModels", targets: ["CRDModels"]),
        .library(name: "Expressions", targets: ["Expressions"]),
        .library(name: "ModuleHostAPI", targets: ["ModuleHostAPI"]),
        .library(name: "ModuleHost", targets: ["ModuleHost"]),
        .library(name: "BoundedChannels", targets: ["BoundedChannels"]),
        .library(name: "ControlPlane", targets: ["ControlPlane"]),
        .library(name: "GRPCTransport", targets: ["GRPCTransport"]),
        .library(name: "ModuleHostApp", targets: ["ModuleHostApp"]),
        .library(name: "KubernetesClient", targets: ["KubernetesClient"]),
        .library(name: "KubernetesRuntime", targets: ["KubernetesRuntime"]),
        .library(name: "LocalMode", targets: ["LocalMode"]),
        .executable(name: "tinyflow-bench", targets: ["tinyflow-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-syntax", from: "603.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
        // The expression language and `{{ }}` templates of transforms, routers and edge mappings.
        .target(
            name: "Expressions",
            dependencies: ["JSONSchemaKit"],
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
        // YAML text to and from JSON values: the one YAML conversion (core schema, no aliases).
        .target(
            name: "YAMLValues",
            dependencies: [
                "JSONSchemaKit",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // YAML manifests read into and written from the API types.
        .target(
            name: "Manifests",
            dependencies: ["CRDModels", "YAMLValues"],
            swiftSettings: strictSettings
        ),
        // The seam of node, flow and global context: the `ContextStore` protocol, scopes, limits, errors.
        .target(
            name: "ContextStoreAPI",
            dependencies: ["JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // Wakes the other processes sharing a directory (Unix datagram sockets): SQLite's stand-in for NOTIFY.
        .target(
            name: "Doorbell",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The seam of durable edges: the `MessageStore` protocol (stored messages, leases,
        // settlements with context mutations, dead letters), queue signals and errors.
        .target(
            name: "MessageStoreAPI",
            dependencies: ["ComponentKit", "ContextStoreAPI", "JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // The in-memory context store: the default of `tinyflow run` and of tests.
        .target(
            name: "ContextStoreMemory",
            dependencies: ["ContextStoreAPI", "JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // The one SQLite connection wrapper (system libsqlite3): control-plane storage and the SQLite context store.
        .target(
            name: "SQLite",
            dependencies: ["CSQLite"],
            swiftSettings: strictSettings
        ),
        // The SQLite context store: the default of `tinyflow up`, one file shared by the local module hosts.
        .target(
            name: "ContextStoreSQLite",
            dependencies: ["AsyncPrimitives", "Backoff", "ComponentKit", "ContextStoreAPI", "JSONSchemaKit", "MessageStoreAPI", "SQLite"],
            swiftSettings: strictSettings
        ),
        // The PostgreSQL context store: shared by every replica of every module on a cluster.
        .target(
            name: "ContextStorePostgres",
            dependencies: [
                "AsyncPrimitives", "Backoff", "ComponentKit", "ContextStoreAPI", "JSONSchemaKit", "MessageStoreAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `--context-store memory | sqlite:PATH | postgres://…`: parses a location and opens its backend.
        .target(
            name: "ContextStores",
            dependencies: [
                "ContextStoreAPI", "ContextStoreMemory", "ContextStoreSQLite", "ContextStorePostgres", "Doorbell", "MessageStoreAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // What component authors implement.
        .target(
            name: "ComponentKit",
            dependencies: [
                "ContextStoreAPI",
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
                "Expressions",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: strictSettings
        ),
        // The process-wide logging and metrics bootstrap, called once in each executable's main.
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // Bearer tokens: random ones, and a comparison that does not leak through timing.
        .target(
            name: "BearerTokens",
            swiftSettings: strictSettings
        ),
        // The one jittered exponential backoff and the schedule that counts a retried thing's failures.
        .target(
            name: "Backoff",
            swiftSettings: strictSettings
        ),
        // Small synchronisation primitives for async code: a one-shot event, a FIFO async lock.
        .target(
            name: "AsyncPrimitives",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strictSettings
        ),
        // A bounded multi-producer single-consumer channel with backpressure: in front of every
        // node input port in a module host, and between a watch's reader and its consumer.
        .target(
            name: "BoundedChannels",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        // `${secret:NAME/KEY}`, `${configmap:NAME/KEY}` and `${param:NAME}` in port configurations:
        // the one substitution (pure, over JSON values) and the redaction of secret values.
        .target(
            name: "ConfigurationReferences",
            dependencies: ["JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        // The seam between operator, transport and node runtime: the module host's
        // control API, message delivery and transport protocols, their values and errors.
        .target(
            name: "ModuleHostAPI",
            dependencies: ["ComponentKit", "ConfigurationReferences", "ContextStoreAPI", "JSONSchemaKit", "MessageStoreAPI"],
            swiftSettings: strictSettings
        ),
        // The process that runs a module's nodes.
        .target(
            name: "ModuleHost",
            dependencies: [
                "ModuleHostAPI",
                "ConfigurationReferences",
                "ContextStoreAPI",
                "ContextStoreMemory",
                "AsyncPrimitives",
                "Backoff",
                "ComponentKit",
                "Expressions",
                "CRDModels",
                "BoundedChannels",
                "MessageStoreAPI",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Cross-module messages and the module host's control API over gRPC.
        .target(
            name: "GRPCTransport",
            dependencies: [
                "ModuleHostAPI", "AsyncPrimitives", "Backoff", "BearerTokens", "ComponentKit", "JSONSchemaKit",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strictSettings
        ),
        // The system SQLite library (Debian: libsqlite3-dev) for the control plane's storage.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The embedded Kubernetes-API control plane: storage, admission, watch, HTTP.
        .target(
            name: "ControlPlane",
            dependencies: [
                "AsyncPrimitives",
                "BearerTokens",
                "JSONSchemaKit",
                "SQLite",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "YAMLValues",
            ],
            swiftSettings: strictSettings
        ),
        // A module-host process: runtime + gRPC server + transport + health, and `ModuleHost.main`.
        .target(
            name: "ModuleHostApp",
            dependencies: [
                "BearerTokens",
                "AsyncPrimitives",
                "ConfigurationReferences",
                "ContextStores",
                "ContextStoreAPI",
                "ModuleHostAPI",
                "ComponentKit",
                "GRPCTransport",
                "KubernetesClient",
                "KubernetesModels",
                "KubernetesRuntime",
                "ModuleHost",
                "ModuleHostAPI",
                "Observability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // A Kubernetes API client: configuration, a request layer without I/O, typed `Api<K>`, watches.
        .target(
            name: "KubernetesClient",
            dependencies: [
                "Backoff",
                "BoundedChannels",
                "KubernetesModels",
                "JSONSchemaKit",
                "YAMLValues",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The controller runtime: watcher, reflector cache, work queue, controller, leader election.
        .target(
            name: "KubernetesRuntime",
            dependencies: [
                "AsyncPrimitives",
                "Backoff",
                "KubernetesClient",
                "KubernetesModels",
                "JSONSchemaKit",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Reconciles TinyNode/TinyModule/TinyFlow resources into running nodes.
        .target(
            name: "Operator",
            dependencies: [
                "AsyncPrimitives",
                "FlowRevisions",
                "ConfigurationReferences",
                "Backoff",
                "CRDModels",
                "Expressions",
                "ModuleHostAPI",
                "ComponentKit",
                "KubernetesModels",
                "KubernetesClient",
                "KubernetesRuntime",
                "GRPCTransport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `tinyflow up`: control plane, module hosts and operator on one machine, supervised.
        .target(
            name: "LocalMode",
            dependencies: [
                "BearerTokens",
                "Console",
                "ModuleHostAPI",
                "Backoff",
                "CRDModels",
                "ControlPlane",
                "GRPCTransport",
                "KubernetesClient",
                "KubernetesModels",
                "Manifests",
                "ModuleHost",
                "ComponentKit",
                "JSONSchemaKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "YAMLValues",
            ],
            swiftSettings: strictSettings
        ),
        // A TinyFlow's revision history and rollback: pure history and the API calls of `tinyflow flow`.
        .target(
            name: "FlowRevisions",
            dependencies: ["CRDModels", "KubernetesClient"],
            swiftSettings: strictSettings
        ),
        // `tinyflow console`: the web console and its flows API, served to the holder of its token,
        // doing everything through the Kubernetes API with the user's kubeconfig.
        .target(
            name: "Console",
            dependencies: [
                "BearerTokens",
                "CRDModels",
                "FlowRevisions",
                "JSONSchemaKit",
                "KubernetesClient",
                "KubernetesModels",
                "KubernetesRuntime",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: consoleResources.map { .embedInCode("Resources/\($0)") },
            swiftSettings: strictSettings
        ),
        // The command-line entry point: argument parsing and wiring only.
        .executableTarget(
            name: "tinyflow",
            dependencies: [
                "BearerTokens",
                "Console",
                "FlowRevisions",
                "ModuleHostAPI",
                "ContextStores",
                "CRDModels",
                "CommonComponents",
                "ControlPlane",
                "GRPCTransport",
                "LocalMode",
                "Manifests",
                "ModuleHost",
                "ModuleHostApp",
                "Observability",
                "Operator",
                "KubernetesClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                "YAMLValues",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `tinyflow-bench`: release-built benchmarks that print one JSON line per figure.
        .executableTarget(
            name: "tinyflow-bench",
            dependencies: [
                "CommonComponents",
                "ComponentKit",
                "ControlPlane",
                "CRDModels",
                "GRPCTransport",
                "KubernetesClient",
                "KubernetesRuntime",
                "ModuleHost",
                "BoundedChannels",
                "Operator",
                "ContextStoreAPI", "ContextStoreMemory", "ContextStoreSQLite", "ContextStorePostgres", "CSQLite", "LocalPostgres",
                "AsyncPrimitives", "ContextStores", "MessageStoreAPI", "ModuleHostAPI", "ModuleHostApp", "SQLite",
                "JSONSchemaKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // The fuzz targets (docs/security.md, "Fuzzing"; `make fuzz`). A plain build makes each a
        // replayer that runs the files and directories it is given through its test function
        // (CI replays the committed corpora that way); built with `-D FUZZING -sanitize=fuzzer`
        // (scripts/fuzz.sh) the same executable hands its function to libFuzzer instead.
        .target(
            name: "CFuzzerDriver",
            path: "Fuzz/CFuzzerDriver"
        ),
        .target(
            name: "FuzzSupport",
            dependencies: ["CFuzzerDriver"],
            path: "Fuzz/FuzzSupport",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FuzzJSON",
            dependencies: ["FuzzSupport", "JSONSchemaKit"],
            path: "Fuzz/Targets/FuzzJSON",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FuzzYAML",
            dependencies: ["FuzzSupport", "JSONSchemaKit", "YAMLValues", "Manifests"],
            path: "Fuzz/Targets/FuzzYAML",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FuzzExpressions",
            dependencies: ["FuzzSupport", "JSONSchemaKit", "Expressions"],
            path: "Fuzz/Targets/FuzzExpressions",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FuzzWire",
            dependencies: ["FuzzSupport", "GRPCTransport"],
            path: "Fuzz/Targets/FuzzWire",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FuzzControlPlaneRequests",
            dependencies: ["FuzzSupport", "ControlPlane"],
            path: "Fuzz/Targets/FuzzControlPlaneRequests",
            swiftSettings: strictSettings
        ),
        // A throwaway PostgreSQL server on this machine (initdb, start, stop), for tests and `tinyflow-bench`.
        .target(
            name: "LocalPostgres",
            swiftSettings: strictSettings
        ),
        // Helpers shared by the test targets, light (Foundation and Swift Testing only):
        // `eventually`, free ports, pipe readers.
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        // Test helpers around an embedded control plane and a Kubernetes client.
        .target(
            name: "ControlPlaneTestSupport",
            dependencies: ["ControlPlane", "KubernetesClient", "KubernetesModels"],
            path: "Tests/ControlPlaneTestSupport",
            swiftSettings: strictSettings
        ),
        // Test helpers around an in-process module runtime.
        .target(
            name: "ModuleHostTestSupport",
            dependencies: ["ComponentKit", "MessageStoreAPI", "ModuleHost", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ModuleHostTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AsyncPrimitivesTests",
            dependencies: ["AsyncPrimitives", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BackoffTests",
            dependencies: ["Backoff"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "JSONSchemaKitTests",
            dependencies: ["JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ExpressionsTests",
            dependencies: ["Expressions", "JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KubernetesModelsTests",
            dependencies: ["KubernetesModels"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CRDModelsTests",
            dependencies: [
                "CRDModels", "Manifests", "TestSupport", "YAMLValues",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ComponentKitTests",
            dependencies: ["ComponentKit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ConfigurationReferencesTests",
            dependencies: ["ConfigurationReferences", "JSONSchemaKit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ModuleHostTests",
            dependencies: [
                "ModuleHost", "Backoff", "CommonComponents", "ComponentKit", "ConfigurationReferences", "ContextStoreAPI",
                "ContextStoreMemory", "ContextStoreSQLite", "MessageStoreAPI", "TestSupport", "ModuleHostTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CommonComponentsTests",
            dependencies: [
                "CommonComponents", "ComponentKit", "ContextStoreMemory", "ModuleHost", "TestSupport", "ModuleHostTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane",
                "JSONSchemaKit",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GRPCTransportTests",
            dependencies: [
                "GRPCTransport", "AsyncPrimitives", "ModuleHost", "ComponentKit", "JSONSchemaKit", "TestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ModuleHostAppTests",
            dependencies: [
                "BearerTokens",
                "ModuleHostApp", "GRPCTransport", "ModuleHost", "ComponentKit", "CommonComponents", "TestSupport",
                "PostgresTestSupport", "ConfigurationReferences",
                "ControlPlaneTestSupport", "ModuleHostTestSupport", "KubernetesClient", "KubernetesModels", "KubernetesRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KubernetesClientTests",
            dependencies: [
                "KubernetesClient", "KubernetesModels", "CRDModels", "ControlPlane", "JSONSchemaKit", "TestSupport",
                "ControlPlaneTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KubernetesRuntimeTests",
            dependencies: [
                "KubernetesRuntime", "KubernetesClient", "KubernetesModels", "CRDModels", "ControlPlane",
                "TestSupport", "ControlPlaneTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BoundedChannelsTests",
            dependencies: ["BoundedChannels", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TinyflowBenchTests",
            dependencies: ["tinyflow-bench"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LocalModeTests",
            dependencies: [
                "LocalMode", "Manifests", "CRDModels", "GRPCTransport", "ModuleHost", "TestSupport", "SQLite", "PostgresTestSupport",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "Console", "CRDModels", "CommonComponents", "ComponentKit", "ControlPlane", "ControlPlaneTestSupport",
                "FlowRevisions", "KubernetesClient", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OperatorTests",
            dependencies: [
                "Operator", "CRDModels", "ComponentKit", "ConfigurationReferences", "FlowRevisions", "ModuleHost", "TestSupport",
                "ControlPlaneTestSupport", "ControlPlane",
                "CommonComponents", "KubernetesClient", "KubernetesModels", "GRPCTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PostgresTestSupport",
            dependencies: ["LocalPostgres"],
            path: "Tests/PostgresTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DoorbellTests",
            dependencies: ["Doorbell", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MessageStoreTests",
            dependencies: [
                "ComponentKit", "ContextStoreAPI", "ContextStoreSQLite", "ContextStorePostgres", "JSONSchemaKit",
                "MessageStoreAPI", "SQLite", "TestSupport", "PostgresTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ContextStoreTests",
            dependencies: [
                "ContextStoreAPI", "ContextStoreMemory", "ContextStoreSQLite", "ContextStorePostgres", "ContextStores",
                "JSONSchemaKit", "TestSupport", "PostgresTestSupport",
            ],
            swiftSettings: strictSettings
        ),
    ]
)
