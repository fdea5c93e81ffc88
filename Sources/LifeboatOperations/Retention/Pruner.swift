import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What a prune did (or, with dry run, would do).
public struct PruneReport: Codable, Sendable {
    public var dryRun: Bool
    public var snapshots: Int
    public var blobsReferenced: Int
    public var packsBefore: Int
    public var packsKept: Int
    public var packsDeleted: Int
    public var packsRepacked: Int
    public var packsWritten: Int
    public var orphanPacksDeleted: Int
    public var orphanPacksKept: Int
    public var blobsRemoved: Int
    public var bytesDeleted: Int
    public var bytesWritten: Int
    public var indexFilesWritten: Int
    public var indexFilesDeleted: Int
    public var temporaryBytesRemoved: Int
    public var seconds: Double
    /// Objects S3 Object Lock keeps until their retain-until date (left in place, not errors),
    /// and packs kept because a retained index file still lists them.
    public var objectsRetained: Int = 0
    /// Attestations of snapshots that are gone (forgotten or shredded).
    public var attestationsDeleted: Int = 0
    public var retainedUntilEarliest: String?
    public var retainedUntilLatest: String?
    /// `replicate`'s segments: deleted (no kept snapshot replays them, or compacted), merged
    /// into fewer (see SegmentRetention), and the merged ones written.
    public var segmentsDeleted: Int = 0
    public var segmentsCompacted: Int = 0
    public var segmentsWritten: Int = 0

}

/// Deletes what no snapshot needs, so forgotten data is really gone (GDPR erasure), and space
/// comes back. Run under the repository's exclusive lock.
///
/// 1. Read every index file and snapshot; collect the blobs snapshots need. Any damage stops
///    here, before anything is changed.
/// 2. Give each needed blob one home pack (preferring packs that are entirely needed). Packs
///    with nothing needed go; packs with some unneeded blobs are repacked: their needed blobs
///    are copied, still sealed, into new packs (blob encryption does not depend on the pack).
///    After `key rotate`, blobs of several key generations are needed: each new pack holds
///    blobs of one generation and its header is sealed with that generation's key, as every
///    pack a snapshot writes is (`check` opens a pack's blobs with the key that opens its header).
/// 3. Crash-safe order, so that a kill at any point leaves a usable repository that loses
///    nothing a snapshot needs:
///    a. write the new packs, then new index files listing them and every kept pack that a
///       superseded index file listed (until here, only additions: a kill leaves orphans);
///    b. delete the superseded index files (each remaining one still names existing packs);
///    c. delete the packs no index names any more, and old orphan packs (left by killed runs);
///    d. remove the backend's temporary files of interrupted uploads.
///    A re-run finishes the job: blobs present twice go to their fully-used new packs, and
///    the old packs are found unneeded.
public final class Pruner {
    public struct Options: Sendable {
        public var dryRun = false
        /// Unindexed packs younger than this are left alone: an upload of a run whose lock
        /// went stale could still be finishing.
        public var orphanGrace: TimeInterval = 3600
        /// Repack a pack only when more than this share of its bytes is unneeded. 0 (the
        /// default) repacks every pack holding anything unneeded: erasure is complete.
        public var maxUnused: Double = 0
        /// Segments older than this are compacted, an hour (`compactWindow`) into one; nil: never.
        public var compactAfter: TimeInterval? = 86400
        public var compactWindow: TimeInterval = 3600
        public var progress: (@Sendable (_ phase: String, _ done: Int, _ total: Int) -> Void)?

        public init() {}
    }

    package let repo: Repository
    package let options: Options

    public init(repository: Repository, options: Options = Options()) {
        self.repo = repository
        self.options = options
    }

    package struct PackInfo {
        package var name: String
        package var size: Int
        package var entries: [PackEntry]
        /// Index files listing it.
        package var indexFiles: Set<String> = []
        package var present = true
    }

    public func run() throws -> PruneReport {
        let started = Date()
        // 1. Read everything; change nothing yet.
        var index = BlobIndex()
        // Tables are read from packs not recorded damaged whenever another copy exists.
        let ledger = try repo.loadDamageLedger()
        index.distrust(ledger.damaged.keys)
        var packs: [String: PackInfo] = [:]
        let indexInfos = try repo.backend.list(.index)
        for info in indexInfos {
            let file: IndexFile
            do { file = try repo.loadIndexFile(info) } catch let e as LifeboatError where e.provesDamage {
                throw LifeboatError(.corrupt, "index \(info.key.name.prefix(8)) cannot be read (\(e.message)); prune refuses to run on a damaged repository: run 'lifeboat check'")
            }
            index.add(file)
            for p in file.packs {
                packs[p.name, default: PackInfo(name: p.name, size: p.size, entries: p.entries)].indexFiles.insert(info.key.name)
            }
        }
        var present: [String: Int] = [:]
        for p in try repo.backend.list(.data) { present[p.key.name] = p.size }
        for name in packs.keys where present[name] == nil { packs[name]?.present = false }

        let records = try repo.listSnapshots()
        let used = try ReferenceCollector(repo: repo, index: index).collect(records) { n in
            self.options.progress?("reading snapshots", n, records.count)
        }

        // 2. One home per needed blob; entirely-needed packs first, so copies left by an
        // interrupted prune (or by concurrent snapshots storing the same page) are dropped.
        // Damaged packs last: a blob stored again elsewhere (by a snapshot or `repair`) has its
        // home there, and a damaged pack nothing else needs is deleted.
        let damaged = damagedPacks(ledger, present: present, indexed: packs.mapValues(\.size))
        let order = packs.values.filter(\.present)
            .map { p in (p, damaged.contains(p.name) ? 2 : p.entries.allSatisfy { used[$0.id] != nil } ? 0 : 1) }
            .sorted { ($0.1, $0.0.name) < ($1.1, $1.0.name) }
            .map(\.0)
        var home = Set<BlobID>()
        var keepPacks: [PackInfo] = [], deletePacks: [PackInfo] = [], repackPacks: [(PackInfo, [PackEntry])] = []
        var blobsRemoved = 0
        for p in order {
            var mine: [PackEntry] = []
            var unusedBytes = 0
            let members = PackEntry.pagesPerFrame(p.entries)
            for e in p.entries {
                // A framed page's share of its frame's bytes.
                if used[e.id] != nil && home.insert(e.id).inserted { mine.append(e) } else { unusedBytes += Int(e.length) / (members[e.offset] ?? 1) }
            }
            if mine.count == p.entries.count {
                keepPacks.append(p)
            } else if mine.isEmpty {
                deletePacks.append(p)
                blobsRemoved += p.entries.count
            } else if Double(unusedBytes) <= options.maxUnused * Double(p.size) {
                keepPacks.append(p)
            } else {
                repackPacks.append((p, mine))
                blobsRemoved += p.entries.count - mine.count
            }
        }
        if let lost = used.keys.first(where: { !home.contains($0) }) {
            throw LifeboatError(.corrupt, "blob \(lost.hex.prefix(16)) is needed by a snapshot but its pack is missing; prune refuses to run on a damaged repository: run 'lifeboat check'")
        }
        let missing = packs.values.filter { !$0.present }
        let changed = Set(deletePacks.map(\.name) + repackPacks.map(\.0.name) + missing.map(\.name))
        let superseded = Set(packs.values.filter { changed.contains($0.name) }.flatMap(\.indexFiles))
        let relist = keepPacks.filter { !$0.indexFiles.isDisjoint(with: superseded) }

        // Orphans: packs no index lists, left by killed runs.
        let now = Date()
        var orphans: [(String, Int)] = [], youngOrphans = 0
        for (name, size) in present where packs[name] == nil {
            if let t = try repo.backend.modificationTime(ObjectKey(.data, name)), now.timeIntervalSince(t) < options.orphanGrace {
                youngOrphans += 1
            } else {
                orphans.append((name, size))
            }
        }

        var report = PruneReport(
            dryRun: options.dryRun, snapshots: records.count, blobsReferenced: used.count, packsBefore: present.count,
            packsKept: keepPacks.count, packsDeleted: deletePacks.count, packsRepacked: repackPacks.count, packsWritten: 0,
            orphanPacksDeleted: orphans.count, orphanPacksKept: youngOrphans, blobsRemoved: blobsRemoved,
            bytesDeleted: deletePacks.reduce(0) { $0 + $1.size } + repackPacks.reduce(0) { $0 + $1.0.size } + orphans.reduce(0) { $0 + $1.1 },
            bytesWritten: 0, indexFilesWritten: 0, indexFilesDeleted: superseded.count, temporaryBytesRemoved: 0, seconds: 0)
        if options.dryRun {
            let segments = try SegmentRetention(repo: repo, records: records, compactAfter: nil, window: options.compactWindow, now: now).run(dryRun: true) { _ in nil }
            report.segmentsDeleted = segments.deleted
            report.bytesDeleted += segments.bytesDeleted
            report.seconds = Date().timeIntervalSince(started)
            return report
        }

        // 3a. New packs, then new index files. Only additions so far.
        var newIndexPacks = relist.map { IndexFile.Pack(name: $0.name, size: $0.size, entries: $0.entries) }
        let written = try repack(repackPacks, generations: used)
        newIndexPacks += written
        report.packsWritten = written.count
        report.bytesWritten = written.reduce(0) { $0 + $1.size }
        var start = 0
        while start < newIndexPacks.count {
            let batch = Array(newIndexPacks[start..<min(start + 32, newIndexPacks.count)])
            report.bytesWritten += try storeIndex(batch)
            report.indexFilesWritten += 1
            start += batch.count
        }
        // 3b. Superseded index files. One under Object Lock retention stays, and so do the
        // packs it lists: every index file left must still name existing packs.
        var retainedUntil: [Date] = []
        var retainedIndexes = Set<String>()
        for (n, name) in superseded.sorted().enumerated() {
            if let until = try deleteIfPresent(ObjectKey(.index, name)) {
                retainedUntil.append(until)
                retainedIndexes.insert(name)
            }
            options.progress?("deleting old index files", n + 1, superseded.count)
        }
        // 3c. Packs nothing names any more, and old orphans.
        let doomed = (deletePacks.map(\.name) + repackPacks.map(\.0.name))
            .filter { packs[$0]?.indexFiles.isDisjoint(with: retainedIndexes) ?? true } + orphans.map(\.0)
        report.objectsRetained = deletePacks.count + repackPacks.count + orphans.count - doomed.count
        for (n, name) in doomed.enumerated() {
            if let until = try deleteIfPresent(ObjectKey(.data, name)) { retainedUntil.append(until) }
            options.progress?("deleting packs", n + 1, doomed.count)
        }
        // 3d. Attestations of snapshots that are gone: they prove nothing any more. One that
        // does not authenticate is left for `check` to report.
        let live = Set(records.map(\.id))
        for a in try repo.listAttestations(damaged: { _, _ in }) where !live.contains(a.attestation.snapshot) {
            if let until = try deleteIfPresent(ObjectKey(.attestations, a.name)) { retainedUntil.append(until) } else { report.attestationsDeleted += 1 }
        }
        // 3e. Segments no kept snapshot replays; older ones compacted.
        let segments = try SegmentRetention(repo: repo, records: records, compactAfter: options.compactAfter, window: options.compactWindow, now: now)
            .run(dryRun: false) { try deleteIfPresent($0) }
        report.segmentsDeleted = segments.deleted
        report.segmentsCompacted = segments.compacted
        report.segmentsWritten = segments.written
        report.bytesDeleted += segments.bytesDeleted
        report.bytesWritten += segments.bytesWritten
        retainedUntil += segments.retainedUntil
        report.objectsRetained += retainedUntil.count
        report.retainedUntilEarliest = retainedUntil.min().map { RFC3339.format($0) }
        report.retainedUntilLatest = retainedUntil.max().map { RFC3339.format($0) }
        // 3e. Temporary files of interrupted uploads hold encrypted pack data too.
        report.temporaryBytesRemoved = try repo.backend.removeTemporaryFiles(olderThan: options.orphanGrace)
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Packs the damage ledger calls damaged, or whose size differs from their index's.
    private func damagedPacks(_ ledger: DamageLedger, present: [String: Int], indexed: [String: Int]) -> Set<String> {
        // Damage seen only in a listing is judged by this one.
        var out = Set(ledger.packs.filter { $0.value.state == .damaged && $0.value.evidence == .content }.keys)
        for (name, size) in indexed where present[name].map({ $0 != size }) ?? false { out.insert(name) }
        return out
    }

    /// Deletes an object; returns its retain-until date when Object Lock keeps it instead.
    @discardableResult
    private func deleteIfPresent(_ key: ObjectKey) throws -> Date? {
        do { try repo.backend.delete(key) } catch let e as LifeboatError where e.kind == .notFound {} catch let e as ObjectRetained {
            return e.until
        }
        return nil
    }

    /// Stores an index file; content-addressed, so an identical one already there is fine.
    private func storeIndex(_ packs: [IndexFile.Pack]) throws -> Int {
        do {
            return try repo.storeObject(.index, IndexFile(packs: packs).encode()).size
        } catch let e as LifeboatError where e.kind == .exists {
            return 0
        }
    }

    /// Seals the still-needed pages of a frame as a new frame (each page checked against its
    /// id on the way), leaving the unneeded ones behind.
    private func reframe(_ group: ArraySlice<PackEntry>, from bytes: [UInt8], generation: KeyTag, into builder: PackBuilder) throws {
        guard let e = group.first else { return }
        let codec = try BlobCodec(keys: repo.keys(tag: generation))
        let pageSize = Int(e.rawLength)
        var pages = [UInt8](repeating: 0, count: group.count * pageSize)
        do {
            try bytes.withUnsafeBytes { b in
                let sealed = UnsafeRawBufferPointer(rebasing: b[Int(e.offset)..<(Int(e.offset) + Int(e.length))])
                try pages.withUnsafeMutableBytes { out in
                    for (k, m) in group.enumerated() {
                        try codec.open(sealed, type: .framedPage, slot: m.slot, id: m.id,
                                       into: UnsafeMutableRawBufferPointer(rebasing: out[(k * pageSize)..<((k + 1) * pageSize)]), frameKey: 0)
                    }
                }
            }
        } catch let err as LifeboatError {
            throw LifeboatError(.corrupt, "\(err.message); prune stopped before deleting anything: run 'lifeboat check'")
        }
        var sealed = [UInt8](repeating: 0, count: BlobCodec.frameBound(pages: group.count, pageSize: pageSize))
        let n = try pages.withUnsafeBytes { p in try sealed.withUnsafeMutableBytes { try codec.sealFrame(p, ids: group.map(\.id), count: group.count, into: $0) } }
        SecretBytes.wipe(&pages)
        sealed.withUnsafeBytes { builder.addFrame(ids: group.map(\.id), sealed: UnsafeRawBufferPointer(rebasing: $0[0..<n]), pageSize: pageSize) }
    }

    /// Copies the needed blobs of partly used packs into new packs, still sealed, one pack
    /// builder per key generation (`generations`: of each needed blob). Each source pack is
    /// checked against its name (SHA-256) first, so damage is never copied forward.
    private func repack(_ work: [(PackInfo, [PackEntry])], generations: [BlobID: KeyTag]) throws -> [IndexFile.Pack] {
        guard !work.isEmpty else { return [] }
        var builders: [KeyTag: (builder: PackBuilder, aead: AEADContext)] = [:]
        var out: [IndexFile.Pack] = []
        func flush(_ generation: KeyTag) throws {
            guard let (builder, aead) = builders[generation], !builder.isEmpty else { return }
            let done = try builder.finish(aead: aead)
            let name = SHA256.hex(done.bytes)
            do { try repo.backend.put(ObjectKey(.data, name), done.bytes) } catch let e as LifeboatError where e.kind == .exists {}
            out.append(IndexFile.Pack(name: name, size: done.bytes.count, entries: done.entries))
        }
        for (n, (pack, entries)) in work.enumerated() {
            let bytes = try repo.backend.get(ObjectKey(.data, pack.name))
            guard SHA256.hex(bytes) == pack.name else {
                throw LifeboatError(.corrupt, "pack \(pack.name.prefix(8)) does not match its name (damaged); prune stopped before deleting anything: run 'lifeboat check'")
            }
            // How many pages each frame of the pack holds, to tell a frame still wholly needed
            // (copied as it is) from one holding unneeded pages (sealed anew without them, so
            // forgotten pages are really gone).
            let frameSize = PackEntry.pagesPerFrame(pack.entries)
            let sorted = entries.sorted { ($0.offset, $0.slot) < ($1.offset, $1.slot) }
            var i = 0
            while i < sorted.count {
                var j = i + 1
                while j < sorted.count, sorted[j].offset == sorted[i].offset { j += 1 }
                let group = sorted[i..<j], e = sorted[i]
                i = j
                guard let generation = generations[e.id] else {
                    throw LifeboatError(.internalError, "prune was about to repack blob \(e.id.hex.prefix(16)) of unknown key generation; nothing was deleted")
                }
                let builder: PackBuilder
                if let existing = builders[generation] { builder = existing.builder } else {
                    builder = PackBuilder(targetSize: repo.config.packSize)
                    builders[generation] = (builder, try AEADContext(key: repo.keys(tag: generation).encryption))
                }
                let end = Int(e.offset) + Int(e.length)
                guard end <= bytes.count else {
                    throw LifeboatError(.corrupt, "pack \(pack.name.prefix(8)) is shorter than its index says; prune stopped before deleting anything: run 'lifeboat check'")
                }
                if e.type != .framedPage {
                    bytes[Int(e.offset)..<end].withUnsafeBytes {
                        builder.add(type: e.type, id: e.id, sealed: $0, rawLength: Int(e.rawLength))
                    }
                } else if group.count == frameSize[e.offset] {
                    bytes[Int(e.offset)..<end].withUnsafeBytes {
                        builder.addFrame(members: group.map { (id: $0.id, slot: $0.slot) }, sealed: $0, pageSize: Int(e.rawLength))
                    }
                } else {
                    try reframe(group, from: bytes, generation: generation, into: builder)
                }
                if builder.isFull { try flush(generation) }
            }
            options.progress?("repacking", n + 1, work.count)
        }
        for generation in builders.keys.sorted(by: { ($0.generation, $0.sourceKey ?? "") < ($1.generation, $1.sourceKey ?? "") }) { try flush(generation) }
        return out
    }
}
