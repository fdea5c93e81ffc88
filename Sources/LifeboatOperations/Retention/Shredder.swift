import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What `lifeboat shred --source NAME` will do (or did).
public struct ShredReport: Codable, Sendable {
    public var source: String
    /// Source key objects destroyed (every key generation of the source).
    public var keysDestroyed: [String]
    /// Snapshots forgotten (full ids), those sealed with the master key included.
    public var snapshotsForgotten: [String]
    /// Snapshots of the source sealed with the master key (taken before it had a key of its
    /// own): shred forgets them, but only prune erases their data.
    public var masterKeySnapshots: Int
    /// Packs sealed with the source's keys: undecryptable from now on, deleted by prune.
    public var packs: Int
    public var packBytes: Int
    public var dryRun: Bool
}

/// Crypto-shredding: destroys a source's keys, so every blob of that source in every copy of
/// the repository becomes undecryptable at once, then forgets its snapshots; `prune` deletes
/// the packs afterwards. Order, so a run killed at any point can be re-run to the same end:
/// 1. a shred record (sealed with the master key, no key material) naming the keys and the
///    packs they sealed, so `check` reports those packs as waiting for prune, not as damage;
/// 2. the audit record (removed snapshots) — by the caller, through `willRemove`;
/// 3. the source key objects are deleted (from every copy the backend writes to);
/// 4. the source's manifests are deleted.
public enum Shredder {
    public struct Plan: Sendable {
        public var source: String
        public var keys: [SourceKeyInfo]
        public var snapshots: [SnapshotRecord]
        public var packs: [String: Int]
        /// A shred of this source that did not finish (keys already gone).
        public var resumes: Bool
    }

    public static func plan(_ repo: Repository, source: String) throws -> Plan {
        let dir = try repo.sourceKeyDirectory()
        if let bad = dir.damaged.first {
            throw LifeboatError(.corrupt, "source key object sourcekeys/\(bad.id.prefix(8)) is damaged (\(bad.error.message)), so whose key it is cannot be told; copy it back from a replica with 'lifeboat sync' and retry")
        }
        let keys = dir.keys(of: source)
        let snapshots = try repo.listSnapshots(source: source)
        let earlier = dir.shreds(of: source)
        if keys.isEmpty {
            if snapshots.isEmpty {
                throw LifeboatError(.notFound, earlier.isEmpty ? "the repository has no source '\(source)' (no snapshot, no source key)"
                                                               : "source '\(source)' is already shredded; run 'lifeboat prune' to delete its packs")
            }
            // Keys gone but snapshots left: a shred killed midway (or keys lost); finish forgetting.
            if earlier.isEmpty && !snapshots.contains(where: { $0.manifest.sourceKey != nil }) {
                throw LifeboatError(.usage, "source '\(source)' has no key of its own, so its backups cannot be crypto-shredded; use 'lifeboat forget' then 'lifeboat prune', and give a source its key with 'lifeboat source-key create --source \(source)' before its first snapshot")
            }
        }
        // The packs sealed with the source's keys: the first blob of each indexed pack is tried
        // with them (one small range read per pack; packs hold blobs of one key only).
        var packs: [String: Int] = [:]
        if !keys.isEmpty {
            let index = try repo.loadIndex()
            var first = [BlobLocation?](repeating: nil, count: index.packs.count)
            var firstID = [BlobID](repeating: .zero, count: index.packs.count)
            index.forEach { id, loc in
                let n = Int(loc.pack)
                if first[n] == nil || loc.offset < (first[n]?.offset ?? 0) { first[n] = loc; firstID[n] = id }
            }
            let codecs = try keys.map { try BlobCodec(keys: repo.keys(tag: KeyTag(generation: $0.generation, sourceKey: $0.id), source: source)) }
            let found = Locked<[String: Int]>([:])
            let names = index.packs, sizes = index.packSizes
            let shared = UnsafeTransfer((first, firstID, codecs))
            try Parallel.forEach(count: names.count, workers: min(4, max(1, repo.backend.preferredConcurrency))) { _, n in
                let (first, firstID, codecs) = shared.value
                guard let loc = first[n] else { return }
                let sealed: [UInt8]
                do { sealed = try repo.backend.getRange(ObjectKey(.data, names[n]), offset: Int(loc.offset), length: Int(loc.length)) } catch let e as LifeboatError where e.kind == .notFound {
                    return
                }
                for codec in codecs where (try? codec.open(sealed, type: loc.type, slot: loc.slot, id: firstID[n], rawLength: Int(loc.rawLength))) != nil {
                    found.withLock { $0[names[n]] = sizes[n] }
                    return
                }
            }
            packs = found.current
        } else {
            for s in earlier { for p in s.packs { packs[p] = 0 } }
        }
        return Plan(source: source, keys: keys, snapshots: snapshots, packs: packs, resumes: keys.isEmpty)
    }

    /// Runs the plan; `willRemove` is called (with the full ids of the snapshots that go) right
    /// before the first key is deleted, for the audit record.
    public static func execute(_ repo: Repository, _ plan: Plan, willRemove: ([String]) -> Void) throws -> ShredReport {
        if !plan.keys.isEmpty {
            let record = ShredRecord(source: plan.source, timeMs: Date().unixMilliseconds,
                                     sourceKeys: plan.keys.map(\.id), packs: plan.packs.keys.sorted())
            try repo.storeObject(.sourceKeys, SourceKeyFormat.shredMagic + (try JSONCoding.encode(record)))
        }
        let ids = plan.snapshots.map(\.id)
        willRemove(ids)
        for k in plan.keys {
            do { try repo.backend.delete(ObjectKey(.sourceKeys, k.id)) } catch let e as LifeboatError where e.kind == .notFound {}
        }
        repo.forgetSourceKeys(plan.keys.map(\.id))
        if let lag = repo.backend.behind.first {
            throw LifeboatError(.incomplete, "the key of source '\(plan.source)' may still be in \(lag.location) (\(lag.error.message)); run shred again with every copy reachable: until then that copy can decrypt the source")
        }
        for id in ids {
            do { try repo.backend.delete(ObjectKey(.snapshots, id)) } catch let e as LifeboatError where e.kind == .notFound {}
        }
        return report(plan, dryRun: false)
    }

    public static func report(_ plan: Plan, dryRun: Bool) -> ShredReport {
        ShredReport(source: plan.source, keysDestroyed: plan.keys.map(\.id), snapshotsForgotten: plan.snapshots.map(\.id),
                    masterKeySnapshots: plan.snapshots.filter { $0.manifest.sourceKey == nil }.count,
                    packs: plan.packs.count, packBytes: plan.packs.values.reduce(0, +), dryRun: dryRun)
    }
}

extension Repository {
    /// Drops destroyed keys from memory too.
    package func forgetSourceKeys(_ ids: [String]) {
        sourceKeyCache.withLock { cache in for id in ids { cache[id] = nil } }
    }
}
