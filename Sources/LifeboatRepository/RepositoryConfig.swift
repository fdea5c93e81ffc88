import Foundation
import LifeboatCore
import LifeboatStorage

/// The repository's own settings, stored encrypted under the fixed name `config`.
public struct RepositoryConfig: Codable, Sendable {
    public var version: Int
    public var id: String
    public var created: String
    /// Page-table entries per leaf blob (16 bytes each).
    public var tableFanout: Int
    /// Target size of a pack before it is closed and uploaded. 4 MiB for new repositories
    /// (8 MiB before): a snapshot holds a pack being filled and the ones uploading, so this
    /// sets most of its memory; 4 MiB is still a few hundred pages per object.
    public var packSize: Int
    /// S3 Object Lock for every new object (nil: none). Absent in older repositories.
    public var objectLock: ObjectLockPolicy?

    // Spelled out, and read and written with JSONCoding's `.asWritten`: ObjectLockPolicy, from
    // the floor below, spells its keys in CodingKeys, which a snake_case decoder cannot match.
    package enum CodingKeys: String, CodingKey {
        case version, id, created
        case objectLock = "object_lock"
        case tableFanout = "table_fanout"
        case packSize = "pack_size"
    }

    public static let currentVersion = 1

    public static func fresh() throws -> RepositoryConfig {
        RepositoryConfig(version: currentVersion, id: Hex.encode(try SecureRandom.bytes(16)),
                         created: RFC3339.format(Date()), tableFanout: 1024, packSize: 4 << 20)
    }
}
