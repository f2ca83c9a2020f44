// swift-tools-version:6.1
// A Tinyflow module of your own: copy this directory, rename `greeter`, add
// components. docs/modules.md walks through building, imaging and installing it.
import PackageDescription

/// Tinyflow itself: a released version by default; `TINYFLOW_PATH=/path/to/tinyflow`
/// (a checkout whose directory is named `tinyflow`) builds against local sources.
let tinyflow: Package.Dependency =
    if let path = Context.environment["TINYFLOW_PATH"], !path.isEmpty {
        .package(path: path)
    } else {
        .package(url: "https://github.com/tinyflow/tinyflow", from: "0.1.0")
    }

let package = Package(
    name: "greeter-module",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "greeter-module", targets: ["GreeterModule"]),
    ],
    dependencies: [tinyflow],
    targets: [
        // The components: a library, so tests (and other modules) can use them.
        .target(
            name: "Greeter",
            dependencies: [.product(name: "ComponentKit", package: "tinyflow")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The module host executable: `main.swift` serves the components.
        .executableTarget(
            name: "GreeterModule",
            dependencies: [
                "Greeter",
                .product(name: "ModuleHost", package: "tinyflow"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "GreeterTests",
            dependencies: ["Greeter", .product(name: "ComponentKit", package: "tinyflow")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
