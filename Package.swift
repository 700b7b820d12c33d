// swift-tools-version:6.1
import PackageDescription

// Pure modules (ShellSyntax, Policy) take values and return values; every system call lives in
// Store and Session. The executable only parses arguments, calls a module and prints.
let package = Package(
    name: "jitsh",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "jitsh", targets: ["jitsh"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "ShellSyntax"),
        .executableTarget(name: "jitsh", dependencies: [
            "ShellSyntax",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer entry point for the parser; `make fuzz` builds it with -sanitize=fuzzer.
        .executableTarget(name: "ShellSyntaxFuzz", dependencies: ["ShellSyntax"]),
        .executableTarget(name: "jitsh-bench", dependencies: ["ShellSyntax"]),
        .testTarget(name: "ShellSyntaxTests", dependencies: ["ShellSyntax"], exclude: ["Corpus"]),
    ]
)
