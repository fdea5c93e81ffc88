import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What one snapshot run did; printed by `lifeboat snapshot` (and as JSON with --json).
public struct SnapshotResult: Codable, Sendable {
    public var id: String
    public var source: String
    public var time: String
    public var pages: Int
    public var pagesNew: Int
    public var bytesAdded: Int
    public var pageSize: Int
    public var databaseBytes: Int
    public var journalMode: String
    public var walFrames: Int
    public var parent: String?
    public var newBase: Bool
    public var deltaPages: Int
    public var packs: Int
    public var seconds: Double
    public var captureSeconds: Double
    /// Repositories that did not receive this snapshot, with the reason.
    public var behind: [String] = []

    package enum CodingKeys: String, CodingKey {
        case id, source, time, pages, parent, packs, seconds
        case pagesNew = "pages_new"
        case bytesAdded = "bytes_added"
        case pageSize = "page_size"
        case databaseBytes = "database_bytes"
        case journalMode = "journal_mode"
        case walFrames = "wal_frames"
        case newBase = "new_base"
        case deltaPages = "delta_pages"
        case captureSeconds = "capture_seconds"
        case behind
    }
}

/// Takes a snapshot: consistent capture → keyed ids → dedup against the index → compress and
/// encrypt new pages, 16 to a frame, on every core → packs uploaded in the background → page table →
/// index file → manifest (last, so a snapshot exists only when all it needs is stored).
public final class Snapshotter {
    public struct Options: Sendable {
        public var source: String
        public var compressionLevel: Int32 = 2
        public var batchPages = 512
        /// New pages sealed together, as one frame (16 × 4 KiB: zstd is about 1.5 times
        /// faster and compresses better than page by page).
        public var framePages = 16
        public var workers = Parallel.workerCount
        /// Packs uploading at once; nil: what the backend prefers, at least 2 (2 local, 4 for S3).
        public var uploadsInFlight: Int? = nil
        /// Stored ids held in memory for dedup before they spill, sorted, to temporary files
        /// (see KnownBlobs): 1.4 MiB of set, whatever the repository's size.
        public var dedupInMemory = 1 << 16
        /// Where the spilled ids go: `$TMPDIR`, else /tmp.
        public var dedupDirectory = KnownBlobs.defaultDirectory
        public var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
        /// Runs just before the manifest is stored; throwing abandons the snapshot (used to
        /// check the run still holds its repository lock).
        public var beforeCommit: (@Sendable () throws -> Void)? = nil

        public init(source: String) { self.source = source }
    }

    package let repo: Repository
    package let options: Options

    public init(repository: Repository, options: Options) {
        self.repo = repository
        self.options = options
    }

    public func run(databasePath: String) throws -> SnapshotResult {
        let started = Date()
        // A copy that already lacks objects the others have is not written to (its dedup view
        // would be wrong); it is reported behind until `lifeboat sync` brings it up to date.
        let replicated = repo.backend as? ReplicatedBackend
        if let replicated, replicated.replicas.count > 1 {
            for lag in Sync.lagging(replicated) {
                guard let i = replicated.replicas.firstIndex(where: { $0.location == lag.location }) else { continue }
                let why = lag.missing < 0 ? "unreachable" : "lacks \(lag.missing) snapshot or index object(s) the others have"
                replicated.markBehind(i, LifeboatError(.incomplete, why))
            }
        }
        let parent = try repo.listSnapshots(source: options.source).last
        let capture = try DatabaseCapture(path: databasePath)
        defer { capture.close() }
        // Stored with millisecond precision; printed from the same value so listings agree.
        let captureTime = Date(unixMilliseconds: Date().unixMilliseconds)
        let pageSize = capture.pageSize
        let pageCount = capture.pageCount
        // The ids the repository holds, and those this run stores as it goes (mostly on disk):
        // planned for every page on a first snapshot, after that for an eighth. Locations are
        // kept for the page table's blobs only.
        let (known, tables) = try repo.loadKnownBlobs(inMemory: options.dedupInMemory, directory: options.dedupDirectory, expectedNew: (parent == nil ? pageCount : max(pageCount / 8, 4096)) + pageCount / max(1, repo.config.tableFanout) + 16)
        reportDamageFound(known)

        let workers = max(1, options.workers)
        // A source with a key of its own is sealed and identified with it (crypto-shredding).
        let own = try repo.writingSourceKey(source: options.source)
        let writeKeys = own?.keys ?? repo.keys
        let codecs = try (0..<workers).map { _ in try BlobCodec(keys: writeKeys, compressionLevel: options.compressionLevel, maxBlobSize: max(pageSize, 1 << 16)) }
        let headerAEAD = try AEADContext(key: writeKeys.encryption)
        let uploader = Uploader(backend: repo.backend, inFlight: options.uploadsInFlight ?? max(2, repo.backend.preferredConcurrency))
        let pack = PackBuilder(targetSize: repo.config.packSize)
        // Page-table blobs go to packs of their own, in order, so a table's leaves can be read
        // 64 at a time with one range read (on S3, one leaf a round trip cost 1.2 s a GiB).
        // 1 MiB: about 64 leaves, what one read of a table takes at a time.
        let tablePack = PackBuilder(targetSize: min(repo.config.packSize, 1 << 20))
        // Packs stored so far and not yet listed in an index file. Index files are written as
        // packs complete (32 at a time), so memory stays flat and a killed run leaves indexed
        // packs the next run can reuse.
        let storedPacks = Locked<[IndexFile.Pack]>([])
        var packCount = 0
        var bytesAdded = 0

        func writeIndex(all: Bool) throws {
            while true {
                let batch: [IndexFile.Pack] = storedPacks.withLock { packs in
                    guard packs.count >= 32 || (all && !packs.isEmpty) else { return [] }
                    let n = min(32, packs.count)
                    defer { packs.removeFirst(n) }
                    return Array(packs.prefix(n))
                }
                if batch.isEmpty { return }
                bytesAdded += try repo.storeObject(.index, IndexFile(packs: batch).encode()).size
            }
        }

        func flushPack(_ pack: PackBuilder) throws {
            guard !pack.isEmpty else { return }
            let (bytes, entries) = try pack.finish(aead: headerAEAD)
            let size = bytes.count
            let builder = UnsafeTransfer(pack)
            try uploader.submit(.data, bytes, recycle: { builder.value.recycle(&$0) }) { name in
                storedPacks.withLock { $0.append(IndexFile.Pack(name: name, size: size, entries: entries)) }
            }
            bytesAdded += size
            packCount += 1
            try writeIndex(all: false)
        }

        /// Stores one small blob (table parts) unless the repository already has it.
        func storeBlob(_ plain: [UInt8], type: BlobType) throws -> BlobID {
            let codec = codecs[0]
            let id = codec.hasher.id(plain)
            if try known.contains(id) { return id }
            let sealed = try codec.seal(plain, type: type, id: id)
            sealed.withUnsafeBytes { tablePack.add(type: type, id: id, sealed: $0, rawLength: plain.count) }
            try known.insert(id)
            if tablePack.isFull { try flushPack(tablePack) }
            return id
        }

        // Two page buffers: the next batch is read while the current one is processed.
        let batch = max(1, options.batchPages)
        let pageBuffers = [UnsafeMutableRawBufferPointer.allocate(byteCount: batch * pageSize, alignment: 4096),
                           UnsafeMutableRawBufferPointer.allocate(byteCount: batch * pageSize, alignment: 4096)]
        defer { pageBuffers.forEach { $0.deallocate() } }
        // New pages are sealed in frames of up to `framePages`; a frame of pages that are not
        // neighbours in the batch is first gathered into its worker's buffer.
        let framePages = max(1, min(BlobCodec.maxFramePages, options.framePages))
        let maxFrames = (batch + framePages - 1) / framePages
        let slotSize = BlobCodec.frameBound(pages: framePages, pageSize: pageSize)
        let sealedSlots = UnsafeMutableRawBufferPointer.allocate(byteCount: maxFrames * slotSize, alignment: 16)
        defer { sealedSlots.deallocate() }
        let gathers = (0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: framePages * pageSize, alignment: 4096) }
        defer { gathers.forEach { $0.deallocate() } }
        let ids = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: batch)
        defer { ids.deallocate() }
        let fresh = UnsafeMutableBufferPointer<Bool>.allocate(capacity: batch)
        defer { fresh.deallocate() }
        let newPages = UnsafeMutableBufferPointer<Int>.allocate(capacity: batch)
        defer { newPages.deallocate() }
        let sealedLengths = UnsafeMutableBufferPointer<Int>.allocate(capacity: maxFrames)
        defer { sealedLengths.deallocate() }
        let parentIDs = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: batch)
        defer { parentIDs.deallocate() }
        var pagesNew = 0
        // The page table is built as ids are captured (a delta against the parent's base while
        // that stays small), so no list of every page's id is kept.
        let fanout = repo.config.tableFanout
        let comparable = sameGeneration(parent?.manifest, sourceKey: own?.id)
        // A parent table that cannot be read only costs the shortcut: every page is then looked
        // up in the id set (the table itself reports the damage if it needs the parent).
        var parentPages = comparable.flatMap { $0.pageSize == pageSize ? try? ParentPages(repo: repo, tables: tables, codec: codecs[0], manifest: $0) : nil }
        let table = try PageTableStream(pageCount: pageCount, fanout: fanout, hasher: codecs[0].hasher,
                                        parent: try parentBase(comparable, pageSize: pageSize, tables: tables, keys: writeKeys),
                                        readLeaves: { [repo] in try repo.readBlobs($0, index: tables, keys: writeKeys) },
                                        storeLeaf: { try storeBlob($0, type: .tableLeaf) })

        let reader = DispatchQueue(label: "lifeboat.capture")
        let readError = Locked<Error?>(nil)
        let captureBox = UnsafeTransfer(capture)
        func startRead(_ first: Int, into buffer: UnsafeMutableRawBufferPointer, group: DispatchGroup) {
            let n = min(batch, pageCount - first)
            let target = UnsafeTransfer(buffer)
            reader.async(group: group) {
                do { try captureBox.value.readPages(first: first, count: n, into: target.value) } catch {
                    readError.withLock { $0 = error }
                }
            }
        }

        var first = 0
        var which = 0
        var pending = DispatchGroup()
        // Never leave (even by an error) while a read still writes into a buffer.
        defer { pending.wait() }
        if pageCount > 0 { startRead(0, into: pageBuffers[0], group: pending) }
        while first < pageCount {
            let n = min(batch, pageCount - first)
            pending.wait()
            if let e = readError.current { throw e }
            let pages = pageBuffers[which]
            if first + n < pageCount {
                pending = DispatchGroup()
                startRead(first + n, into: pageBuffers[1 - which], group: pending)
            }

            // 1. In parallel, a chunk of `framePages` pages per task, pulled by whichever worker
            //    is free: the keyed ids, whether the repository (this run's pages included) lacks
            //    them (the set is only read here), and when it lacks them all (a first snapshot,
            //    appended data) the chunk sealed as one frame at once.
            let chunks = (n + framePages - 1) / framePages
            let parentHas: Int
            do { parentHas = try parentPages?.fill(from: first, count: n, into: parentIDs) ?? 0 } catch { parentHas = 0; parentPages = nil }
            let shared = UnsafeTransfer((pages, ids, fresh, codecs, sealedSlots, sealedLengths, parentIDs))
            try Parallel.forEach(count: chunks, workers: workers) { w, c in
                let (pages, ids, fresh, codecs, slots, lengths, parentIDs) = shared.value
                let lo = c * framePages, hi = min(n, lo + framePages)
                var allNew = true
                for i in lo..<hi {
                    let id = codecs[w].hasher.id(UnsafeRawBufferPointer(rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]))
                    ids[i] = id
                    // The parent's page at the same place is stored: no lookup, only the Bloom
                    // filter's word that the index lists it (were an index file lost, the page
                    // is looked up, found missing and stored again).
                    if i < parentHas && parentIDs[i] == id && known.mayContain(id) { fresh[i] = false } else { fresh[i] = try !known.contains(id) }
                    allNew = allNew && fresh[i]
                }
                lengths[c] = !allNew ? 0 : try codecs[w].sealFrame(UnsafeRawBufferPointer(rebasing: pages[(lo * pageSize)..<(hi * pageSize)]), count: hi - lo,
                                                                   into: UnsafeMutableRawBufferPointer(rebasing: slots[(c * slotSize)..<((c + 1) * slotSize)]))
            }
            // 2. In order: record ids; chunks sealed whole go into packs (a page identical to
            //    another of the same chunk is stored twice, harmlessly: the first copy is the one
            //    indexed); of the other new pages, only the first of identical ones is kept.
            var newCount = 0
            for c in 0..<chunks {
                let lo = c * framePages, hi = min(n, lo + framePages)
                if sealedLengths[c] > 0 {
                    for i in lo..<hi { try known.insert(ids[i]) }
                    pagesNew += hi - lo
                    pack.addFrame(ids: ids[lo..<hi], sealed: UnsafeRawBufferPointer(rebasing: sealedSlots[(c * slotSize)..<(c * slotSize + sealedLengths[c])]), pageSize: pageSize)
                    if pack.isFull { try flushPack(pack) }
                    continue
                }
                for i in lo..<hi {
                    let id = ids[i]
                    guard fresh[i] else { continue }
                    if try known.contains(id) { continue }
                    try known.insert(id)
                    newPages[newCount] = i
                    newCount += 1
                }
            }
            pagesNew += newCount
            // 3. In parallel: the other new pages, gathered into frames, compressed and encrypted.
            let frames = (newCount + framePages - 1) / framePages
            if frames > 0 {
                let newCount = newCount
                let shared = UnsafeTransfer((pages, sealedSlots, newPages, sealedLengths, gathers, codecs))
                try Parallel.forEach(count: frames, workers: workers) { w, f in
                    let (pages, slots, newPages, lengths, gathers, codecs) = shared.value
                    let lo = f * framePages, count = min(newCount, lo + framePages) - lo
                    let firstPage = newPages[lo]
                    var input = UnsafeRawBufferPointer(rebasing: pages[(firstPage * pageSize)..<((firstPage + count) * pageSize)])
                    if newPages[lo + count - 1] - firstPage != count - 1, let dst = gathers[w].baseAddress, let src = pages.baseAddress {
                        for k in 0..<count {
                            (dst + k * pageSize).copyMemory(from: src + newPages[lo + k] * pageSize, byteCount: pageSize)
                        }
                        input = UnsafeRawBufferPointer(rebasing: gathers[w][0..<(count * pageSize)])
                    }
                    lengths[f] = try codecs[w].sealFrame(input, count: count, into: UnsafeMutableRawBufferPointer(rebasing: slots[(f * slotSize)..<((f + 1) * slotSize)]))
                }
            }
            // 4. In order: those frames into packs.
            for f in 0..<frames {
                let lo = f * framePages, hi = min(newCount, lo + framePages)
                pack.addFrame(ids: (lo..<hi).map { ids[newPages[$0]] },
                              sealed: UnsafeRawBufferPointer(rebasing: sealedSlots[(f * slotSize)..<(f * slotSize + sealedLengths[f])]), pageSize: pageSize)
                if pack.isFull { try flushPack(pack) }
            }
            try table.append(UnsafeBufferPointer(rebasing: ids[0..<n]))
            first += n
            which = 1 - which
            options.progress?(first, pageCount)
        }
        // The image is captured: release the read transaction (and, in rollback mode, the writers).
        capture.close()
        let captureSeconds = Date().timeIntervalSince(started)

        // Page table: a delta against the parent's base, or a new base's root.
        let (plan, digest) = try table.finish()
        var rootID: BlobID
        var deltaID: BlobID?
        switch plan {
        case .newBase(let leaves):
            rootID = try storeBlob(PageTableFormat.encodeRoot(.init(pageCount: pageCount, pageSize: pageSize, fanout: fanout, leaves: leaves)), type: .tableRoot)
        case .delta(let root, let entries):
            rootID = root
            if !entries.isEmpty { deltaID = try storeBlob(PageTableFormat.encodeDelta(entries), type: .tableDelta) }
        }
        try flushPack(pack)
        try flushPack(tablePack)
        try uploader.finish()

        // Index before manifest: a manifest must never reference blobs no index lists.
        try writeIndex(all: true)
        let manifest = Manifest(version: 1, source: options.source, timeMs: captureTime.unixMilliseconds,
                                host: HostIdentity.hostName, database: databasePath,
                                pageSize: pageSize, pageCount: pageCount, journalMode: capture.journalMode,
                                tableRoot: rootID.hex, tableDelta: deltaID?.hex, deltaCount: plan.deltaCount,
                                parent: parent?.id, imageDigest: Hex.encode(digest), pagesNew: pagesNew,
                                bytesAdded: bytesAdded, toolVersion: LifeboatVersion.current,
                                keyGeneration: repo.keyring.current == 0 ? nil : repo.keyring.current, sourceKey: own?.id)
        try options.beforeCommit?()
        let saved = try repo.storeManifest(manifest)
        bytesAdded += saved.size

        return SnapshotResult(id: saved.id, source: options.source, time: RFC3339.format(captureTime, fractional: true),
                              pages: pageCount, pagesNew: pagesNew, bytesAdded: bytesAdded, pageSize: pageSize,
                              databaseBytes: pageCount * pageSize, journalMode: capture.journalMode,
                              walFrames: capture.walFramesUsed, parent: parent?.id, newBase: plan.isNewBase,
                              deltaPages: plan.deltaCount, packs: packCount,
                              seconds: Date().timeIntervalSince(started), captureSeconds: captureSeconds,
                              behind: (replicated?.behind ?? []).map { "\($0.location): \($0.error.message)" })
    }
}

extension Snapshotter {
    /// A parent sealed with an older key generation (before `key rotate`) cannot share a page
    /// table with this snapshot: its ids are keyed differently, so a new base is written.
    /// Likewise a parent sealed with another source key (or with the master key, before the
    /// source got its own).
    package func sameGeneration(_ m: Manifest?, sourceKey: String?) -> Manifest? {
        guard let m, (m.keyGeneration ?? 0) == repo.keyring.current, m.sourceKey == sourceKey else { return nil }
        return m
    }

    /// The parent's base root, when a delta against it can describe this snapshot (same page
    /// size and fanout, and the base wholly in packs not found damaged: a delta references
    /// every leaf); nil means a new base.
    package func parentBase(_ m: Manifest?, pageSize: Int, tables: BlobIndex, keys: MasterKeys) throws -> (id: BlobID, root: PageTableFormat.Root)? {
        guard let m, m.pageSize == pageSize, let rootID = BlobID(hex: m.tableRoot), tables.hasTrustedCopy(rootID) else { return nil }
        let root = try PageTableFormat.decodeRoot(try repo.readBlob(rootID, index: tables, codec: try BlobCodec(keys: keys)))
        guard root.fanout == repo.config.tableFanout, root.pageSize == pageSize, root.leaves.allSatisfy(tables.hasTrustedCopy) else { return nil }
        return (rootID, root)
    }
}
