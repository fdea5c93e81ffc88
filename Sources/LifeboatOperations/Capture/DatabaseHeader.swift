import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The 100-byte header at the start of every SQLite database file.
public struct DatabaseHeader: Sendable {
    public static let size = 100
    package static let magic: [UInt8] = Array("SQLite format 3\0".utf8)

    public let pageSize: Int
    /// 1 = rollback journal, 2 = WAL (bytes 18 and 19).
    public let writeVersion: UInt8
    public let changeCounter: UInt32
    /// In-header database size, trusted only when `versionValidFor == changeCounter`.
    public let headerPageCount: UInt32
    public let versionValidFor: UInt32

    public var isWAL: Bool { writeVersion == 2 }

    public init(_ b: [UInt8], path: String) throws {
        guard b.count >= Self.size, Array(b[0..<16]) == Self.magic else {
            throw LifeboatError(.database, "\(path) is not an SQLite database (bad header)")
        }
        func be32(_ o: Int) -> UInt32 { UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3]) }
        let raw = Int(b[16]) << 8 | Int(b[17])
        let size = raw == 1 ? 65536 : raw
        guard size >= 512, size <= 65536, size & (size - 1) == 0 else {
            throw LifeboatError(.database, "\(path) has an invalid page size in its header")
        }
        pageSize = size
        writeVersion = b[18]
        changeCounter = be32(24)
        headerPageCount = be32(28)
        versionValidFor = be32(92)
    }
}
