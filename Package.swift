// swift-tools-version:6.1
import PackageDescription

// Pure modules (ShellSyntax, Policy) take values and return values; system calls live in Posix
// (processes, descriptors, waits), Store (its files) and Session. README's "Code map" says who owns what.
let package = Package(
    name: "jitsh",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "jitsh", targets: ["jitsh"]),
        .executable(name: "jitsh-serve", targets: ["jitsh-serve"]),
        .executable(name: "jitsh-sync", targets: ["jitsh-sync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "ShellSyntax"),
        .target(name: "Policy", dependencies: [
            "ShellSyntax",
            .product(name: "Yams", package: "Yams"),
        ]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Recording chunks are zstd (cheap enough to keep up with a relay); CZlib stays for the
        // chunks written before, which must still read and verify.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "Store", dependencies: [
            "ShellSyntax", "Policy", "CZlib", "CZstd", "Posix",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // The fleet's central store (issue 20): PostgreSQL behind the Store module's protocols. Only a
        // store configured as postgresql:// reaches it; a lone host's jitsh never opens a connection.
        .target(name: "PostgresStore", dependencies: [
            "Store",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Fleet mode's host side (issue 20): the shipper from the spool to the central store, the
        // grant and lock view kept fresh, the status. Protocols and values only; `jitsh sync --once`
        // and the jitsh-sync service both run it.
        .target(name: "Fleet", dependencies: ["Store", "PostgresStore", "Policy"]),
        // `jitsh sync` as a service: lifecycle, logs for journald, Prometheus metrics on loopback.
        // Its own binary, so the setgid jitsh started on every SSH connection links none of it.
        .executableTarget(name: "jitsh-sync", dependencies: [
            "Fleet", "Store", "PostgresStore", "Session",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .target(name: "CSpawn", linkerSettings: [.linkedLibrary("util")]),
        // The system layer: spawning, descriptors, bounded waits, wait statuses, bash's argv.
        .target(name: "Posix", dependencies: ["CSpawn"]),
        .target(name: "Session", dependencies: ["ShellSyntax", "Policy", "Store", "Posix", "CSpawn",
                                              .product(name: "Crypto", package: "swift-crypto")]),
        // The web app for reviewers and approvers (`jitsh serve`): HTTP edges over the Store's review
        // and grant APIs. Its own binary, jitsh-serve, which `jitsh serve` runs: the setgid jitsh
        // started on every SSH connection links no HTTP server.
        .target(name: "Serve", dependencies: [
            "Store", "ShellSyntax", "Policy", "Session", "PostgresStore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
        ]),
        .executableTarget(name: "jitsh-serve", dependencies: ["Serve"]),
        .executableTarget(name: "jitsh", dependencies: [
            "ShellSyntax", "Policy", "Store", "Session", "PostgresStore", "Posix", "Fleet",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer entry point for the parser; `make fuzz` builds it with -sanitize=fuzzer.
        .executableTarget(name: "ShellSyntaxFuzz", dependencies: ["ShellSyntax"]),
        .executableTarget(name: "jitsh-bench", dependencies: ["ShellSyntax", "Policy", "Store", "Session", "Posix"]),
        // What several test targets share: free loopback ports, a seeded generator, the private
        // PostgreSQL and the fleet beds' policy.
        .target(name: "TestSupport", dependencies: ["Store", "PostgresStore"], path: "Tests/TestSupport"),
        .testTarget(name: "ShellSyntaxTests", dependencies: ["ShellSyntax", "TestSupport"], exclude: ["Corpus"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Session", "TestSupport"]),
        // One suite over every back end: SQLite, in memory, and a private PostgreSQL it starts itself.
        .testTarget(name: "StoreConformanceTests", dependencies: ["Store", "PostgresStore", "Fleet", "Policy", "TestSupport"]),
        .testTarget(name: "SessionTests", dependencies: ["Session", "ShellSyntax", "Policy", "Store", "Posix", "TestSupport"]),
        // jitsh doctor's rules over values, and the command on a broken setup (needs .build/debug/jitsh).
        .testTarget(name: "DoctorTests", dependencies: ["Session"]),
        .systemLibrary(name: "CLibssh", pkgConfig: "libssh", providers: [.apt(["libssh-dev"])]),
        .testTarget(name: "EndToEndTests", dependencies: ["CLibssh", "Store", "PostgresStore", "TestSupport"]),
        // A real `jitsh serve` on loopback over a store filled through the recorder's APIs, and Chromium.
        .testTarget(name: "ServeTests", dependencies: ["Store", "Serve", "TestSupport"]),
    ]
)
