import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Copies to one copy of a repository whatever it lacks from another: a replica that was
/// unreachable during snapshots catches up, or a new replica (another region) is seeded.
/// Only reads the source and PUTs new names to the target: never deletes, never overwrites.
/// Every content-addressed object is checked against its SHA-256 name before it is written, so a
/// damaged source object is reported instead of copied.
public struct SyncResult: Codable, Sendable {
    public var copied: [String: Int]
    public var bytes: Int
    public var damaged: [String]
    public var seconds: Double
    /// With `sync --repair`: damaged objects of the target replaced from the source.
    public var repair: ReplaceResult? = nil
}

extension SyncResult {
    /// Source objects found damaged (and not copied), as one line saying what to do; nil when
    /// every object was sound.
    public func damageError(source: String) -> LifeboatError? {
        guard !damaged.isEmpty else { return nil }
        return LifeboatError(.corrupt, "\(damaged.count) object(s) in \(source) are damaged and were not copied (\(damaged.prefix(3).joined(separator: ", "))); run 'lifeboat check' on it")
    }
}

public enum Sync {
    /// Object kinds in the order that keeps the target consistent at every moment: a snapshot
    /// arrives only after the index files and packs it needs.
    package static let order: [ObjectKind] = [.keys, .sourceKeys, .data, .index, .audit, .damaged, .snapshots, .attestations, .segments]

    public static func run(from source: any Backend, to target: any Backend, workers: Int = 4,
                           progress: (@Sendable (String) -> Void)? = nil) throws -> SyncResult {
        let started = Date()
        guard let config = try configIfAny(source) else {
            throw LifeboatError(.repositoryMissing, "no Lifeboat repository at \(source.location) to sync from")
        }
        if let existing = try configIfAny(target) {
            guard existing == config else {
                throw LifeboatError(.usage, "\(target.location) holds a different repository than \(source.location); sync only copies between copies of one repository")
            }
        } else {
            try target.create()
        }
        var copied: [String: Int] = [:]
        let bytes = Locked(0)
        let damaged = Locked<[String]>([])
        for kind in order {
            let have = Set(try target.list(kind).map(\.key.name))
            let missing = try source.list(kind).filter { !have.contains($0.key.name) }
            progress?("\(kind.rawValue): \(missing.count) to copy")
            let count = Locked(0)
            try Parallel.forEach(count: missing.count, workers: workers) { _, i in
                let key = missing[i].key
                let data = try source.get(key)
                guard SHA256.hex(data) == key.contentDigest else {
                    damaged.withLock { $0.append(key.path) }
                    return
                }
                do { try target.put(key, data) } catch let e as LifeboatError where e.kind == .exists {}
                bytes.withLock { $0 += data.count }
                count.withLock { $0 += 1 }
            }
            copied[kind.rawValue] = count.current
        }
        // The config last: a target that had none becomes a repository only when complete.
        if try configIfAny(target) == nil {
            try target.put(.config, config)
            copied["config"] = 1
        }
        return SyncResult(copied: copied, bytes: bytes.current, damaged: damaged.current.sorted(),
                          seconds: Date().timeIntervalSince(started))
    }

    /// The config of a copy, nil when it has none; an unreachable copy is an error, not an
    /// empty one (that would send sync seeding a repository over an existing one).
    private static func configIfAny(_ backend: any Backend) throws -> [UInt8]? {
        do { return try backend.get(.config) } catch let e as LifeboatError where e.kind == .notFound { return nil }
    }

    /// Copies of a repository that lack snapshots or index files another copy has.
    public static func lagging(_ backend: any Backend) -> [(location: String, missing: Int)] {
        var listings: [Set<String>?] = []
        for r in backend.replicas {
            let names = (try? r.list(.snapshots).map { "s/" + $0.key.name }).map(Set.init)
            let index = (try? r.list(.index).map { "i/" + $0.key.name }).map(Set.init)
            if let names, let index { listings.append(names.union(index)) } else { listings.append(nil) }
        }
        let union = listings.compactMap { $0 }.reduce(Set<String>()) { $0.union($1) }
        return zip(backend.replicas, listings).compactMap { r, l in
            guard let l else { return (r.location, -1) }
            let missing = union.subtracting(l).count
            return missing > 0 ? (r.location, missing) : nil
        }
    }
}
