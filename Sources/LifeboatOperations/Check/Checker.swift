import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The outcome of `lifeboat check`: every problem found, and exactly which snapshots they harm.
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
    /// Packs of shredded sources, unreadable on purpose until prune deletes them (not damage).
    public var shreddedPacks: Int? = nil
    /// Retain-until state per S3 copy (filled by the check command; nil without S3).
    public var objectLock: [ObjectLockStatus]?
}

/// Verifies a repository. Structure: every index file and manifest authenticates, every pack
/// the index names exists with the right size, every snapshot's page table reads and every
/// page it names is indexed. With `readData`: every pack is downloaded, its SHA-256 checked
/// against its name, its header against the index, and every blob decrypted and verified.
public final class Checker {
    package let repo: Repository
    package let workers: Int

    public init(repository: Repository, workers: Int = max(2, Parallel.workerCount)) {
        self.repo = repository
        self.workers = workers
    }

    public func run(readData: Bool, progress: (@Sendable (String) -> Void)? = nil) throws -> CheckReport {
        var errors: [String] = []
        // Blobs found bad: the snapshots that need them are damaged.
        var badBlobs = Set<BlobID>()

        // Index files, one by one, so one damaged file does not hide the others.
        var index = BlobIndex()
        for info in try repo.backend.list(.index) {
            do {
                index.add(try repo.loadIndexFile(info))
            } catch let e as LifeboatError {
                errors.append("index \(info.key.name.prefix(8)): \(e.message)")
            }
        }

        // Audit records must authenticate like everything else.
        for info in try repo.backend.list(.audit) {
            do { _ = try repo.loadObject(info.key) } catch let e as LifeboatError {
                errors.append("audit record \(info.key.name.prefix(8)): \(e.message)")
            }
        }

        // Source keys must authenticate; shred records name the packs no key opens any more.
        let sourceKeys = try repo.sourceKeyDirectory()
        for bad in sourceKeys.damaged { errors.append("source key \(bad.id.prefix(8)): \(bad.error.message)") }
        let shredded = sourceKeys.shreddedPacks

        // Packs named by the index must exist with the size it records.
        var present: [String: Int] = [:]
        for p in try repo.backend.list(.data) { present[p.key.name] = p.size }
        var badPacks = Set<UInt32>()
        for (n, name) in index.packs.enumerated() {
            if let size = present[name] {
                if size != index.packSizes[n] {
                    errors.append("pack \(name.prefix(8)) has \(size) bytes, the index says \(index.packSizes[n])")
                    badPacks.insert(UInt32(n))
                }
            } else {
                errors.append("pack \(name.prefix(8)) is missing")
                badPacks.insert(UInt32(n))
            }
        }

        var bytesRead = 0
        if readData {
            var packKeys = try repo.keyring.generations.reversed().map { try repo.keyring.keys(generation: $0) }
            for k in sourceKeys.keys { packKeys.append(try repo.keys(tag: KeyTag(generation: k.generation, sourceKey: k.id), source: k.source)) }
            var skip = badPacks
            for (n, name) in index.packs.enumerated() where shredded.contains(name) { skip.insert(UInt32(n)) }
            let result = try readAllPacks(index: index, keys: packKeys, skip: skip, progress: progress)
            errors += result.errors
            badBlobs.formUnion(result.badBlobs)
            badPacks.formUnion(result.badPacks)
            bytesRead = result.bytes
        }
        if !badPacks.isEmpty {
            index.forEach { id, loc in if badPacks.contains(loc.pack) { badBlobs.insert(id) } }
        }

        // Snapshots: manifest, page table, every page indexed and not known bad.
        var damaged: [CheckReport.DamagedSnapshot] = []
        var snapshotCount = 0
        let records = try repo.listSnapshots { id, e in
            damaged.append(.init(id: id, source: nil, time: nil, problem: e.message))
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
                var missing = 0, bad = 0
                for id in ids {
                    if !index.contains(id) { missing += 1 } else if badBlobs.contains(id) { bad += 1 }
                }
                if missing > 0 || bad > 0 {
                    var parts: [String] = []
                    if missing > 0 { parts.append("\(missing) page(s) not in any index") }
                    if bad > 0 { parts.append("\(bad) page(s) in damaged or missing packs") }
                    damaged.append(.init(id: r.id, source: r.manifest.source, time: RFC3339.format(r.manifest.time), problem: parts.joined(separator: ", ")))
                }
            } catch let e as LifeboatError {
                damaged.append(.init(id: r.id, source: r.manifest.source, time: RFC3339.format(r.manifest.time), problem: e.message))
            }
        }
        snapshotCount += damaged.filter { $0.source == nil }.count
        let waiting = index.packs.filter { shredded.contains($0) }.count
        return CheckReport(ok: errors.isEmpty && damaged.isEmpty, readData: readData, snapshots: snapshotCount,
                           packs: index.packs.count, blobs: index.count, bytesRead: bytesRead,
                           errors: errors, damagedSnapshots: damaged, shreddedPacks: waiting > 0 ? waiting : nil)
    }

    package struct DataResult {
        package var errors: [String] = []
        package var badBlobs = Set<BlobID>()
        package var badPacks = Set<UInt32>()
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
                r.badBlobs.formUnion(local.badBlobs)
                r.badPacks.formUnion(local.badPacks)
                r.bytes += local.bytes
            } }
            let bytes: [UInt8]
            do { bytes = try repo.backend.get(ObjectKey(.data, name)) } catch let e as LifeboatError {
                local.errors.append("pack \(name.prefix(8)): \(e.message)")
                local.badPacks.insert(UInt32(n))
                return
            }
            local.bytes += bytes.count
            if SHA256.hex(bytes) != name {
                local.errors.append("pack \(name.prefix(8)) does not match its name (damaged)")
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
