import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The outcome of `lifeboat check`: every problem found, and exactly which snapshots they harm;
/// apart from them, what could not be read (unreachable, out of retries), which proves nothing.
public struct CheckReport: Codable, Sendable {
    public struct DamagedSnapshot: Codable, Sendable {
        public var id: String
        public var source: String?
        public var time: String?
        public var problem: String
    }

    public var ok: Bool
    public var readData: Bool
    public var snapshots: Int
    public var packs: Int
    public var blobs: Int
    public var bytesRead: Int
    public var errors: [String]
    public var damagedSnapshots: [DamagedSnapshot]
    /// Objects that could not be read, and why: not damage, a check to run again later.
    public var unreadable: [String] = []
    /// Snapshots not found damaged, but needing pages in packs that could not be read.
    public var unverifiedSnapshots = 0
    /// Packs of shredded sources, unreadable on purpose until prune deletes them (not damage).
    public var shreddedPacks: Int? = nil
    /// Retain-until state per S3 copy (filled by the check command; nil without S3).
    public var objectLock: [ObjectLockStatus]?
    /// Packs found damaged or missing that some snapshot still needs (full names).
    public var damagedPacks: [String] = []
    /// Damaged or missing packs nothing needs any more: each of their blobs is stored again
    /// elsewhere (by a snapshot or `repair`); prune deletes them. Not an error.
    public var supersededPacks: Int? = nil
    /// Every object found damaged or missing (paths such as data/9b/9bf9…): what
    /// `lifeboat repair --from` replaces from another copy.
    public var damagedObjects: [String] = []
    /// Whether new findings were recorded in the repository's damage ledger (nil: nothing
    /// new to record; false: the repository could not be written).
    public var damageRecorded: Bool? = nil
    /// The repository refused writes: checked without a lock, nothing recorded in it.
    public var readOnly: Bool = false
    /// Segments of `replicate` found (gaps are errors; with --read-data each one is opened).
    public var segments: Int? = nil

}

/// Verifies a repository. Structure: every index file and manifest authenticates, every pack
/// the index names exists with the right size, every snapshot's page table reads and every
/// page it names is indexed. With `readData`: every pack is downloaded, its SHA-256 checked
/// against its name, its header against the index, and every blob decrypted and verified.
public final class Checker {
    package let repo: Repository
    package let workers: Int
    /// Whether findings go to the repository's damage ledger (off for a read-only repository).
    package let record: Bool

    public init(repository: Repository, workers: Int = max(2, Parallel.workerCount), record: Bool = true) {
        self.repo = repository
        self.workers = workers
        self.record = record
    }

    /// A failure to read `what`: damage when it proves damage, else something not read.
    private static func note(_ what: String, _ e: LifeboatError, errors: inout [String], unreadable: inout [String]) {
        if e.provesDamage { errors.append("\(what): \(e.message)") } else { unreadable.append("\(what): \(e.message)") }
    }

    public func run(readData: Bool, progress: (@Sendable (String) -> Void)? = nil) throws -> CheckReport {
        var errors: [String] = []
        var damagedObjects: [String] = []
        var unreadable: [String] = []
        // Blobs found bad: the snapshots that need them are damaged.
        var badBlobs = Set<BlobID>()
        // Blobs in packs that could not be read: the snapshots that need them are unverified.
        var unreadBlobs = Set<BlobID>()

        // Index files, one by one, so one damaged file does not hide the others. Packs missing
        // from the listing of data/ (taken after that of index/), of the wrong size, or recorded
        // damaged are judged first: a blob there yields to any other copy (see PackTrust).
        let indexFiles = try repo.backend.list(.index)
        var trust = try repo.packTrust(checkSizes: true)
        for (name, e) in trust.ledger.unreadable {
            errors.append("damage record \(name.prefix(8)): \(e.message)")
            damagedObjects.append(ObjectKey(.damaged, name).path)
        }
        var index = BlobIndex()
        index.distrust(trust.distrusted)
        for info in indexFiles {
            do {
                let file = try repo.loadIndexFile(info)
                for p in file.packs { trust.judge(p.name, indexedSize: p.size) }
                index.distrust(trust.distrusted)
                index.add(file)
            } catch let e as LifeboatError {
                Self.note("index \(info.key.name.prefix(8))", e, errors: &errors, unreadable: &unreadable)
                if e.provesDamage { damagedObjects.append(info.key.path) }
            }
        }

        // Audit records must authenticate like everything else.
        for info in try repo.backend.list(.audit) {
            do { _ = try repo.loadObject(info.key) } catch let e as LifeboatError {
                Self.note("audit record \(info.key.name.prefix(8))", e, errors: &errors, unreadable: &unreadable)
            }
        }

        // Attestations too: one that does not is no proof, and a restore ignores it.
        _ = try repo.listAttestations { name, e in errors.append("attestation \(name.prefix(8)): \(e.message)") }

        // Source keys must authenticate; shred records name the packs no key opens any more.
        let sourceKeys = try repo.sourceKeyDirectory()
        for bad in sourceKeys.damaged { errors.append("source key \(bad.id.prefix(8)): \(bad.error.message)") }
        let shredded = sourceKeys.shreddedPacks

        // Packs named by the index must exist with the size it records; packs the ledger calls
        // damaged are bad too, unless --read-data finds them whole again.
        var problems: [UInt32: String] = [:]
        var badPacks = Set<UInt32>()
        var recordedOnly = Set<UInt32>()
        for (n, name) in index.packs.enumerated() {
            if let found = trust.found[name] {
                problems[UInt32(n)] = found
                badPacks.insert(UInt32(n))
            } else if trust.distrusted.contains(name), let recorded = trust.ledger.damaged[name] {
                problems[UInt32(n)] = recorded + " (recorded by \(trust.ledger.packs[name]?.operation ?? "an earlier run"))"
                recordedOnly.insert(UInt32(n))
            }
        }

        var bytesRead = 0
        // Packs the ledger calls damaged that are now seen whole: by this listing (when the
        // ledger had only a listing's word) or by reading them.
        var whole = trust.healed
        var garbled = Set<UInt32>()
        var dataErrors: [String] = []
        if readData {
            var packKeys = try repo.keyring.generations.reversed().map { try repo.keyring.keys(generation: $0) }
            for k in sourceKeys.keys { packKeys.append(try repo.keys(tag: KeyTag(generation: k.generation, sourceKey: k.id), source: k.source)) }
            var skip = badPacks
            for (n, name) in index.packs.enumerated() where shredded.contains(name) { skip.insert(UInt32(n)) }
            let result = try readAllPacks(index: index, keys: packKeys, skip: skip, progress: progress)
            unreadable += result.unreadable
            badBlobs.formUnion(result.badBlobs)
            bytesRead = result.bytes
            let unread = result.badPacks.union(result.mismatched)
            func packPrefix(_ n: UInt32) -> String { "pack \(index.packs[Int(n)].prefix(8))" }
            for n in unread { problems[n] = result.errors.first { $0.hasPrefix(packPrefix(n)) } ?? "\(packPrefix(n)) is damaged" }
            // Read and matching its name: whole, whatever the ledger said before.
            for n in result.verified {
                recordedOnly.remove(n)
                problems[n] = nil
                whole.insert(index.packs[Int(n)])
            }
            badPacks.formUnion(result.badPacks)
            // A pack that cannot be read is said once, by its own line; blobs of a pack that
            // does not match its name are judged one by one (those that authenticate are intact).
            dataErrors = result.errors.filter { e in !unread.contains { e == problems[$0] } && !result.badPacks.contains { e.hasPrefix(packPrefix($0)) } }
            garbled = result.mismatched
            // Packs the store did not serve (unreachable, out of retries) prove nothing: the
            // snapshots needing them are unverified, not damaged.
            if !result.unreadPacks.isEmpty {
                index.forEach { id, loc in if result.unreadPacks.contains(loc.pack) { unreadBlobs.insert(id) } }
            }
        }
        badPacks.formUnion(recordedOnly)
        // A bad pack is damage only while some blob has no other home: the index locates a
        // blob in a damaged pack only when no other pack holds it.
        var homes = Set<UInt32>()
        index.forEach { id, loc in
            if badPacks.contains(loc.pack) { badBlobs.insert(id) }
            if badPacks.contains(loc.pack) || garbled.contains(loc.pack) { homes.insert(loc.pack) }
        }
        badPacks.formUnion(garbled)
        var damagedPacks: [String] = []
        var superseded = 0
        for n in badPacks.sorted() {
            let name = index.packs[Int(n)]
            damagedObjects.append(ObjectKey(.data, name).path)
            if homes.contains(n) {
                damagedPacks.append(name)
                errors.append(problems[n] ?? "pack \(name.prefix(8)) is damaged")
            } else {
                superseded += 1
                dataErrors.removeAll { $0.hasPrefix("pack \(name.prefix(8))") }
            }
        }
        errors += dataErrors

        // Snapshots: manifest, page table, every page indexed and not known bad.
        var damaged: [CheckReport.DamagedSnapshot] = []
        var snapshotCount = 0
        var unverified = 0
        var unreadManifests = 0
        let records = try repo.listSnapshots { id, e in
            if e.provesDamage {
                damaged.append(.init(id: id, source: nil, time: nil, problem: e.message))
                damagedObjects.append(ObjectKey(.snapshots, id).path)
            } else {
                unreadable.append("snapshot \(id.prefix(8)): \(e.message)")
                unreadManifests += 1
            }
        }
        var codecs: [KeyTag: BlobCodec] = [:]
        for r in records {
            snapshotCount += 1
            progress?("snapshot \(r.shortID)")
            do {
                let tag = r.manifest.keyTag
                let codec = try codecs[tag] ?? BlobCodec(keys: repo.keys(for: r.manifest))
                codecs[tag] = codec
                let ids = try PageTableReader(repo: repo, index: index, codec: codec).pageIDs(of: r.manifest)
                var missing = 0, bad = 0, unread = 0
                for id in ids {
                    if !index.contains(id) { missing += 1 } else if badBlobs.contains(id) { bad += 1 } else if unreadBlobs.contains(id) { unread += 1 }
                }
                if missing == 0 && bad == 0 && unread > 0 { unverified += 1 }
                if missing > 0 || bad > 0 {
                    var parts: [String] = []
                    if missing > 0 { parts.append("\(missing) page(s) not in any index") }
                    if bad > 0 { parts.append("\(bad) page(s) in damaged or missing packs") }
                    damaged.append(.init(id: r.id, source: r.manifest.source, time: RFC3339.format(r.manifest.time), problem: parts.joined(separator: ", ")))
                }
            } catch let e as LifeboatError where e.provesDamage {
                damaged.append(.init(id: r.id, source: r.manifest.source, time: RFC3339.format(r.manifest.time), problem: e.message))
            } catch let e as LifeboatError {
                unreadable.append("page table of snapshot \(r.shortID): \(e.message)")
                unverified += 1
            }
        }
        let segmentCheck = SegmentCheck(repo: repo, sources: Set(records.map(\.manifest.source)), readData: readData)
        errors += segmentCheck.errors
        damagedObjects += segmentCheck.damagedObjects
        unreadable += segmentCheck.unreadable
        snapshotCount += damaged.filter { $0.source == nil }.count + unreadManifests
        unverified += unreadManifests
        let waiting = index.packs.filter { shredded.contains($0) }.count
        var report = CheckReport(ok: errors.isEmpty && damaged.isEmpty && unreadable.isEmpty, readData: readData, snapshots: snapshotCount,
                                 packs: index.packs.count, blobs: index.count, bytesRead: bytesRead,
                                 errors: errors, damagedSnapshots: damaged, unreadable: unreadable, unverifiedSnapshots: unverified,
                                 shreddedPacks: waiting > 0 ? waiting : nil)
        report.damagedPacks = damagedPacks
        report.supersededPacks = superseded > 0 ? superseded : nil
        report.damagedObjects = damagedObjects
        report.segments = segmentCheck.segments > 0 ? segmentCheck.segments : nil
        report.damageRecorded = recordFindings(badPacks: badPacks, problems: problems, listed: Set(trust.found.keys), whole: whole, index: index, ledger: trust.ledger)
        return report
    }

    /// New findings into the damage ledger: bad packs it does not know yet, and packs it calls
    /// damaged that were just read whole. Nil when there is nothing new.
    private func recordFindings(badPacks: Set<UInt32>, problems: [UInt32: String], listed: Set<String>, whole: Set<String>, index: BlobIndex, ledger: DamageLedger) -> Bool? {
        var damaged: [String: String] = [:]
        for n in badPacks { damaged[index.packs[Int(n)]] = problems[n] ?? "damaged" }
        let fresh = damaged.keys.filter { !ledger.isDamaged($0) }
        let healed = whole.filter { ledger.isDamaged($0) }
        guard !fresh.isEmpty || !healed.isEmpty else { return nil }
        guard record else { return false }
        do {
            let evidence = Dictionary(uniqueKeysWithValues: listed.map { ($0, DamageRecord.Evidence.listing) })
            try repo.recordPackStates(damaged: damaged, evidence: evidence, whole: whole, operation: "check", ledger: ledger)
            return true
        } catch {
            return false
        }
    }

    package struct DataResult {
        package var errors: [String] = []
        package var unreadable: [String] = []
        package var badBlobs = Set<BlobID>()
        /// Packs that could not be read or do not match their name.
        package var badPacks = Set<UInt32>()
        /// Packs read whole: their SHA-256 matches their name.
        package var verified = Set<UInt32>()
        /// Packs read that do not match their name (their blobs are judged one by one).
        package var mismatched = Set<UInt32>()
        /// Packs the store did not serve (unreachable, out of retries): not damage.
        package var unreadPacks = Set<UInt32>()
        package var bytes = 0
    }

    private func readAllPacks(index: BlobIndex, keys candidates: [MasterKeys], skip: Set<UInt32>, progress: (@Sendable (String) -> Void)?) throws -> DataResult {
        // What the index says each pack holds, to compare with the pack's own header.
        var expected = [[PackEntry]](repeating: [], count: index.packs.count)
        index.forEach { id, loc in
            expected[Int(loc.pack)].append(PackEntry(type: loc.type, id: id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, slot: loc.slot))
        }
        // In pack order, so the pages of a frame are opened one after another (decrypted once).
        for n in expected.indices { expected[n].sort { ($0.offset, $0.slot) < ($1.offset, $1.slot) } }
        let result = Locked(DataResult())
        let repo = self.repo
        let packs = index.packs
        let shared = UnsafeTransfer(expected)
        try Parallel.forEach(count: packs.count, workers: workers) { _, n in
            if skip.contains(UInt32(n)) { return }
            let name = packs[n]
            progress?("pack \(name.prefix(8))")
            var local = DataResult()
            defer { result.withLock { r in
                r.errors += local.errors
                r.unreadable += local.unreadable
                r.badBlobs.formUnion(local.badBlobs)
                r.badPacks.formUnion(local.badPacks)
                r.verified.formUnion(local.verified)
                r.mismatched.formUnion(local.mismatched)
                r.unreadPacks.formUnion(local.unreadPacks)
                r.bytes += local.bytes
            } }
            let bytes: [UInt8]
            do { bytes = try repo.backend.get(ObjectKey(.data, name)) } catch let e as LifeboatError where e.provesDamage {
                local.errors.append("pack \(name.prefix(8)): \(e.message)")
                local.badPacks.insert(UInt32(n))
                return
            } catch let e as LifeboatError {
                local.unreadable.append("pack \(name.prefix(8)): \(e.message)")
                local.unreadPacks.insert(UInt32(n))
                return
            }
            local.bytes += bytes.count
            if SHA256.hex(bytes) != name {
                local.errors.append("pack \(name.prefix(8)) does not match its name (damaged)")
                local.mismatched.insert(UInt32(n))
            } else {
                local.verified.insert(UInt32(n))
            }
            // A pack is sealed with one key (a master key generation or a source key): the one
            // that opens its header.
            var header: [PackEntry] = []
            var packKeys = repo.keys
            var headerError: LifeboatError?
            for keys in candidates {
                do {
                    header = try PackFormat.decodeHeader(pack: bytes, aead: AEADContext(key: keys.encryption), name: String(name.prefix(8)))
                    packKeys = keys
                    headerError = nil
                    break
                } catch let e as LifeboatError {
                    if headerError == nil { headerError = e }
                }
            }
            if let headerError { local.errors.append(headerError.message) }
            let codec = try BlobCodec(keys: packKeys)
            // --read-data hashes every page again, even where its frame vouches for its id.
            codec.recomputeIDs = true
            let headerIDs = Set(header.map(\.id))
            var plain: [UInt8] = []
            for e in shared.value[n] {
                if !header.isEmpty && !headerIDs.contains(e.id) {
                    local.errors.append("pack \(name.prefix(8)) header does not list blob \(e.id.hex.prefix(16)) that the index puts there")
                }
                let end = Int(e.offset) + Int(e.length)
                guard end <= bytes.count else {
                    local.errors.append("pack \(name.prefix(8)) is truncated: blob \(e.id.hex.prefix(16)) lies past its end")
                    local.badBlobs.insert(e.id)
                    continue
                }
                do {
                    if plain.count != Int(e.rawLength) { plain = [UInt8](repeating: 0, count: Int(e.rawLength)) }
                    try bytes.withUnsafeBytes { b in
                        try plain.withUnsafeMutableBytes {
                            try codec.open(UnsafeRawBufferPointer(rebasing: b[Int(e.offset)..<end]), type: e.type, slot: e.slot, id: e.id,
                                           into: $0, frameKey: UInt64(e.offset))
                        }
                    }
                } catch let err as LifeboatError {
                    local.errors.append("pack \(name.prefix(8)): \(err.message)")
                    local.badBlobs.insert(e.id)
                }
            }
        }
        return result.current
    }
}
