// swift-tools-version: 6.0
import PackageDescription

// The floors of Lifeboat (ARCHITECTURE.md). A target may import only the floors below it;
// the compiler keeps it so. C libraries sit in tiny system-library targets that only the
// wrapping files of LifeboatCore and LifeboatStorage import.
let package = Package(
    name: "Lifeboat",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lifeboat", targets: ["LifeboatCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // glibc's mallopt, for fixed malloc thresholds (Support/MemoryTuning.swift).
        .systemLibrary(name: "CMalloc"),
        // O_DIRECT for pack files (Support/FileIO.swift).
        .systemLibrary(name: "CDirectIO"),
        .systemLibrary(name: "CBuildInfo"),

        // Floor 1: support, crypto, compression, the SQLite wrapper, ids, errors, clock, identity.
        .target(name: "LifeboatCore", dependencies: ["CLibCrypto", "CSQLite", "CZstd", "CMalloc", "CDirectIO", "CBuildInfo"]),
        // Floor 2: where bytes live: the Backend protocol, local directory, S3, Object Lock,
        // and the decorators (replication, retry).
        .target(name: "LifeboatStorage", dependencies: ["LifeboatCore", "CCurl"]),
        // Floor 3: the repository format: keys, packs, index, page table, manifests, locks, audit trail.
        .target(name: "LifeboatRepository", dependencies: ["LifeboatCore", "LifeboatStorage"]),
        // Floor 4: the use cases: capture, snapshot, restore, check, retention, sync, status, config.
        .target(
            name: "LifeboatOperations",
            dependencies: ["LifeboatCore", "LifeboatStorage", "LifeboatRepository", .product(name: "Yams", package: "Yams")]
        ),
        // Beside the floors: generated process databases and write loads (demo, drills, tests).
        .target(name: "LifeboatWorkload", dependencies: ["LifeboatCore"]),
        // Floor 5: disaster-recovery drills.
        .target(
            name: "LifeboatDrill",
            dependencies: ["LifeboatCore", "LifeboatStorage", "LifeboatRepository", "LifeboatOperations", "LifeboatWorkload",
                           .product(name: "Yams", package: "Yams")]
        ),
        // Top: the command line, one file per subcommand.
        .executableTarget(
            name: "LifeboatCLI",
            dependencies: [
                "LifeboatCore", "LifeboatStorage", "LifeboatRepository", "LifeboatOperations", "LifeboatWorkload", "LifeboatDrill",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "LifeboatTests",
            dependencies: ["LifeboatCore", "LifeboatStorage", "LifeboatRepository", "LifeboatOperations", "LifeboatWorkload", "LifeboatDrill", "CSQLite"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
