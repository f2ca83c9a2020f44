// swift-tools-version:6.1
import PackageDescription

/// Settings every Tinyflow target is compiled with: Swift 6 language mode
/// (strict concurrency) plus the upcoming features grpc-swift-2 also uses.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// On the `runtime-channel` branch this manifest holds only the runtime's node channel and
// the benchmark harness; `main` merges these targets into the full manifest by hand.
let package = Package(
    name: "tinyflow",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NodeChannels", targets: ["NodeChannels"]),
        .executable(name: "tinyflow-bench", targets: ["tinyflow-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // The bounded multi-producer single-consumer channel behind every in-module node input port.
        .target(
            name: "NodeChannels",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        // `tinyflow-bench runtime`: release-built benchmarks that print one JSON line per figure.
        .executableTarget(
            name: "tinyflow-bench",
            dependencies: [
                "NodeChannels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "NodeChannelsTests",
            dependencies: ["NodeChannels"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TinyflowBenchTests",
            dependencies: ["tinyflow-bench"],
            swiftSettings: strictSettings
        ),
    ]
)
