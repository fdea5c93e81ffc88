import Foundation
import LifeboatCore

/// The kinds of object a repository stores; each lives under its own prefix.
public enum ObjectKind: String, CaseIterable, Sendable {
    case config
    case keys
    case data
    case index
    case snapshots
    case locks
    case audit
    /// Per-source keys and shred records (crypto-shredding), see SourceKeys.swift.
    case sourceKeys = "sourcekeys"
    /// Results of `lifeboat verify`: SQLite's checks of a snapshot's image, bound to it.
    case attestations
    /// Records of packs found damaged or missing, and of packs found whole again (see DamageLedger.swift).
    case damaged
    /// Committed transactions shipped by `lifeboat replicate` (see Segment.swift), named so a
    /// listing alone orders them: source tag, lineage, sequence range, times, then SHA-256.
    case segments
}

/// Where one object lives in a backend: its kind and its name (hex id, or "config").
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible {
    public let kind: ObjectKind
    public let name: String

    public init(_ kind: ObjectKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static let config = ObjectKey(.config, "config")

    /// Relative path used by every backend. Packs are sharded by their first two hex digits
    /// so no directory (or S3 listing page) holds millions of entries.
    public var path: String {
        switch kind {
        case .config: return "config"
        case .data: return "data/\(name.prefix(2))/\(name)"
        default: return "\(kind.rawValue)/\(name)"
        }
    }

    public var description: String { path }

    /// The SHA-256 of the stored bytes this name carries: the whole name, except for segments,
    /// whose names end with it.
    public var contentDigest: String {
        kind == .segments ? String(name.suffix(64)) : name
    }
}

/// One entry of a listing.
public struct ObjectInfo: Hashable, Sendable {
    public let key: ObjectKey
    public let size: Int

    public init(key: ObjectKey, size: Int) {
        self.key = key
        self.size = size
    }
}

/// A place objects are stored: a local directory or an S3 bucket.
///
/// Contract every backend obeys (checked by the shared storage test suite):
/// - `put` is atomic: a reader sees the whole object or nothing, also after a crash.
/// - `put` never overwrites: writing an existing key throws `.exists`, so backups need no
///   overwrite or delete permission. Only `delete` removes, and only prune calls it.
/// - `get`/`getRange`/`delete` of a missing key throw `.notFound`.
/// - `list` returns every complete object of a kind, in no particular order.
/// Backends are blocking and thread-safe: callers parallelise with worker threads.
///
/// Names of every kind but config and locks are the SHA-256 of the object's bytes (the
/// repository writes them so); a backend may rely on it to tell a damaged copy.
///
/// What a backend can do beyond storing bytes is a capability every backend has, with a
/// default for those that cannot (Capabilities/, ObjectLock/ObjectLockConfigurable.swift):
/// its replica set, maintenance for prune, Object Lock, range reads into buffers. A decorator
/// forwards every one of them, so no caller needs to know what is underneath.
public protocol Backend: Sendable, ReplicaSet, BackendMaintenance, ObjectLockConfigurable, RangeReading {
    /// Human-readable location for messages, never containing credentials.
    var location: String { get }
    /// Prepare an empty location (make directories; check the bucket is reachable).
    func create() throws
    func put(_ key: ObjectKey, _ bytes: [UInt8]) throws
    func get(_ key: ObjectKey) throws -> [UInt8]
    func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8]
    /// Size of an object, or nil when it does not exist.
    func stat(_ key: ObjectKey) throws -> Int?
    func list(_ kind: ObjectKind) throws -> [ObjectInfo]
    func delete(_ key: ObjectKey) throws
    /// See the extension's default.
    var preferredConcurrency: Int { get }
}

extension Backend {
    /// How many transfers are worth running at once: one for a local disk (more only adds seeks
    /// and memory), several for a network store whose latency dominates.
    public var preferredConcurrency: Int { 1 }

    public func exists(_ key: ObjectKey) throws -> Bool { try stat(key) != nil }

    /// Decodes names produced by `ObjectKey.path` back into keys (used by listings).
    public static func key(fromPath path: String) -> ObjectKey? {
        if path == "config" { return .config }
        let parts = path.split(separator: "/").map(String.init)
        guard let first = parts.first, let kind = ObjectKind(rawValue: first), kind != .config else { return nil }
        if kind == .data {
            guard parts.count == 3, parts[1] == String(parts[2].prefix(2)) else { return nil }
            return ObjectKey(.data, parts[2])
        }
        guard parts.count == 2 else { return nil }
        return ObjectKey(kind, parts[1])
    }
}
