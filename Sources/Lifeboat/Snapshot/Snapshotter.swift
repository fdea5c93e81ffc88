import Foundation

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

    enum CodingKeys: String, CodingKey {
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
    }
}

/// Takes a snapshot: consistent capture → keyed ids → dedup against the index → compress and
/// encrypt new pages on every core → packs uploaded in the background → page table →
/// index file → manifest (last, so a snapshot exists only when all it needs is stored).
public final class Snapshotter {
    public struct Options: Sendable {
        public var source: String
        public var compressionLevel: Int32 = 1
        public var batchPages = 512
        public var workers = Parallel.workerCount
        public var uploadsInFlight = 1
        public var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
        /// Runs just before the manifest is stored; throwing abandons the snapshot (used to
        /// check the run still holds its repository lock).
        public var beforeCommit: (@Sendable () throws -> Void)? = nil

        public init(source: String) { self.source = source }
    }

    let repo: Repository
    let options: Options
    private var fanoutEstimate: Int { max(1, repo.config.tableFanout) }

    public init(repository: Repository, options: Options) {
        self.repo = repository
        self.options = options
    }

    public func run(databasePath: String) throws -> SnapshotResult {
        let started = Date()
        let parent = try repo.listSnapshots(source: options.source).last
        let capture = try DatabaseCapture(path: databasePath)
        defer { capture.close() }
        let captureTime = Date()
        let pageSize = capture.pageSize
        let pageCount = capture.pageCount
        // Sized for every page being new, so the table never grows (and doubles) mid-run.
        var index = try repo.loadIndex(extraCapacity: pageCount + pageCount / fanoutEstimate + 16)

        let workers = max(1, options.workers)
        let codecs = try (0..<workers).map { _ in try BlobCodec(keys: repo.keys, compressionLevel: options.compressionLevel, maxBlobSize: max(pageSize, 1 << 16)) }
        let headerAEAD = try AEADContext(key: repo.keys.encryption)
        let uploader = Uploader(backend: repo.backend, inFlight: options.uploadsInFlight)
        let pack = PackBuilder(targetSize: repo.config.packSize)
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

        func flushPack() throws {
            guard !pack.isEmpty else { return }
            let done = try pack.finish(aead: headerAEAD)
            let size = done.bytes.count, entries = done.entries
            try uploader.submit(.data, done.bytes) { name in
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
            if index.contains(id) { return id }
            let sealed = try codec.seal(plain, type: type, id: id)
            sealed.withUnsafeBytes { pack.add(type: type, id: id, sealed: $0, rawLength: plain.count) }
            index.insert(id, BlobLocation(pack: .max, offset: 0, length: 0, rawLength: 0, type: type))
            if pack.isFull { try flushPack() }
            return id
        }

        // Buffers for one batch, reused for the whole run.
        let batch = max(1, options.batchPages)
        let pages = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * pageSize, alignment: 4096)
        defer { pages.deallocate() }
        let slotSize = BlobCodec.sealedBound(pageSize)
        let sealedSlots = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * slotSize, alignment: 16)
        defer { sealedSlots.deallocate() }
        let ids = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: batch)
        defer { ids.deallocate() }
        let sealedLengths = UnsafeMutableBufferPointer<Int>.allocate(capacity: batch)
        defer { sealedLengths.deallocate() }
        var current = [BlobID]()
        current.reserveCapacity(pageCount)
        var newSlots = [Int]()
        newSlots.reserveCapacity(batch)
        var pagesNew = 0

        let shared = UnsafeTransfer((pages, sealedSlots, ids, sealedLengths, codecs))
        var first = 0
        while first < pageCount {
            let n = min(batch, pageCount - first)
            try capture.readPages(first: first, count: n, into: pages)

            // 1. keyed ids, in parallel (contiguous ranges per worker).
            try Parallel.run(workers: workers) { w in
                let (pages, _, ids, _, codecs) = shared.value
                let lo = w * n / workers, hi = (w + 1) * n / workers
                for i in lo..<hi {
                    ids[i] = codecs[w].hasher.id(UnsafeRawBufferPointer(rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]))
                }
            }
            // 2. dedup, in order (within the batch too: many pages can be identical, e.g. zeroed).
            newSlots.removeAll(keepingCapacity: true)
            for i in 0..<n {
                let id = ids[i]
                current.append(id)
                if !index.contains(id) {
                    index.insert(id, BlobLocation(pack: .max, offset: 0, length: 0, rawLength: 0, type: .page))
                    newSlots.append(i)
                }
            }
            // 3. compress + encrypt the new pages, in parallel.
            if !newSlots.isEmpty {
                let todo = UnsafeTransfer(newSlots)
                try Parallel.run(workers: min(workers, newSlots.count)) { w in
                    let (pages, slots, ids, lengths, codecs) = shared.value
                    let list = todo.value
                    let count = min(workers, list.count)
                    let lo = w * list.count / count, hi = (w + 1) * list.count / count
                    for k in lo..<hi {
                        let i = list[k]
                        lengths[i] = try codecs[w].seal(UnsafeRawBufferPointer(rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]),
                                                         type: .page, id: ids[i],
                                                         into: UnsafeMutableRawBufferPointer(rebasing: slots[(i * slotSize)..<((i + 1) * slotSize)]))
                    }
                }
                // 4. append to packs, in order.
                for i in newSlots {
                    pack.add(type: .page, id: ids[i], sealed: UnsafeRawBufferPointer(rebasing: sealedSlots[(i * slotSize)..<(i * slotSize + sealedLengths[i])]), rawLength: pageSize)
                    if pack.isFull { try flushPack() }
                }
                pagesNew += newSlots.count
            }
            first += n
            options.progress?(first, pageCount)
        }
        // The image is captured: release the read transaction (and, in rollback mode, the writers).
        capture.close()
        let captureSeconds = Date().timeIntervalSince(started)

        // Page table: a delta against the parent's base, or a new base.
        let fanout = repo.config.tableFanout
        let table = try PageTableBuilder(repo: repo, index: index, codec: codecs[0])
            .plan(current: current, pageSize: pageSize, fanout: fanout, parent: parent?.manifest)
        var rootID: BlobID
        var deltaID: BlobID?
        switch table {
        case .newBase:
            var leaves: [BlobID] = []
            var start = 0
            while start < pageCount {
                let end = min(start + fanout, pageCount)
                let leaf = current[start..<end].withUnsafeBytes { Array($0) }
                leaves.append(try storeBlob(leaf, type: .tableLeaf))
                start = end
            }
            rootID = try storeBlob(PageTableFormat.encodeRoot(.init(pageCount: pageCount, pageSize: pageSize, fanout: fanout, leaves: leaves)), type: .tableRoot)
        case .delta(let root, let entries):
            rootID = root
            if !entries.isEmpty { deltaID = try storeBlob(PageTableFormat.encodeDelta(entries), type: .tableDelta) }
        }
        try flushPack()
        try uploader.finish()

        // Index before manifest: a manifest must never reference blobs no index lists.
        try writeIndex(all: true)
        let digest = current.withUnsafeBytes { codecs[0].hasher.mac(Array($0)) }
        let manifest = Manifest(version: 1, source: options.source, timeMs: captureTime.unixMilliseconds,
                                host: ProcessInfo.processInfo.hostName, database: databasePath,
                                pageSize: pageSize, pageCount: pageCount, journalMode: capture.journalMode,
                                tableRoot: rootID.hex, tableDelta: deltaID?.hex, deltaCount: table.deltaCount,
                                parent: parent?.id, imageDigest: Hex.encode(digest), pagesNew: pagesNew,
                                bytesAdded: bytesAdded, toolVersion: Lifeboat.version)
        try options.beforeCommit?()
        let stored = try repo.storeManifest(manifest)
        bytesAdded += stored.size

        return SnapshotResult(id: stored.id, source: options.source, time: RFC3339.format(captureTime, fractional: true),
                              pages: pageCount, pagesNew: pagesNew, bytesAdded: bytesAdded, pageSize: pageSize,
                              databaseBytes: pageCount * pageSize, journalMode: capture.journalMode,
                              walFrames: capture.walFramesUsed, parent: parent?.id, newBase: table.isNewBase,
                              deltaPages: table.deltaCount, packs: packCount,
                              seconds: Date().timeIntervalSince(started), captureSeconds: captureSeconds)
    }
}

public enum Lifeboat {
    public static let version = "0.1.0"
}
