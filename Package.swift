// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Lifeboat",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lifeboat", targets: ["lifeboat"]),
        .library(name: "Lifeboat", targets: ["Lifeboat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // One tiny system-library target per C library; only the files that wrap them import them.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // glibc's mallopt, for fixed malloc thresholds (Support/MemoryTuning.swift).
        .systemLibrary(name: "CMalloc"),
        // O_DIRECT for pack files (Support/FileIO.swift).
        .systemLibrary(name: "CDirectIO"),
        .target(
            name: "Lifeboat",
            dependencies: ["CLibCrypto", "CSQLite", "CZstd", "CCurl", "CMalloc", "CDirectIO", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "lifeboat",
            dependencies: [
                "Lifeboat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "LifeboatTests",
            dependencies: ["Lifeboat", "CSQLite"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
