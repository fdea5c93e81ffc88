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
/// encrypt new pages, 16 to a frame, on every core (PageBatchPipeline) → packs uploaded in the
/// background, index files as packs complete (SnapshotPackWriter) → page table → manifest
/// (last, so a snapshot exists only when all it needs is stored).
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
        /// Runs inside the capture's read transaction, on the very state the snapshot holds
        /// (drills record the source's tables at their recovery points this way).
        public var duringCapture: (@Sendable (SQLiteConnection) throws -> Void)? = nil
        /// Set by `replicate`: capture the state at this WAL position, record it in the
        /// manifest as this point of the lineage, and date the snapshot by that transaction.
        public var replication: (point: ReplicationPoint, wal: WALPosition, stateTime: Date)? = nil

        public init(source: String) { self.source = source }
    }

    package let repo: Repository
    package let options: Options

    public init(repository: Repository, options: Options) {
        self.repo = repository
        self.options = options
    }

    /// The stages, in order: note lagging copies → capture (ids, dedup, seal, pack) → page
    /// table → finish packs and index → manifest. Nothing is visible until the manifest is
    /// stored, so a run stopped at any stage leaves no snapshot, only reusable packs.
    public func run(databasePath: String) throws -> SnapshotResult {
        let started = Date()
        skipLaggingCopies()
        let parent = try repo.listSnapshots(source: options.source).last
        let capture = try DatabaseCapture(path: databasePath, walLimit: options.replication?.wal)
        defer { capture.close() }
        if let duringCapture = options.duringCapture { try capture.withConnection(duringCapture) }
        // Stored with millisecond precision; printed from the same value so listings agree.
        let captureTime = Date(unixMilliseconds: (options.replication?.stateTime ?? Date()).unixMilliseconds)
        let pageSize = capture.pageSize
        let pageCount = capture.pageCount
        // The ids the repository holds, and those this run stores as it goes (mostly on disk):
        // planned for every page on a first snapshot, after that for an eighth. Locations are
        // kept for the page table's blobs only.
        let (known, tables) = try repo.loadKnownBlobs(inMemory: options.dedupInMemory, directory: options.dedupDirectory, expectedNew: (parent == nil ? pageCount : max(pageCount / 8, 4096)) + pageCount / max(1, repo.config.tableFanout) + 16)
        reportDamageFound(known)

        // A source with a key of its own is sealed and identified with it (crypto-shredding).
        let own = try repo.writingSourceKey(source: options.source)
        let writeKeys = own?.keys ?? repo.keys
        let codecs = try (0..<max(1, options.workers)).map { _ in try BlobCodec(keys: writeKeys, compressionLevel: options.compressionLevel, maxBlobSize: max(pageSize, 1 << 16)) }
        let writer = SnapshotPackWriter(repo: repo, known: known, tableCodec: codecs[0], headerAEAD: try AEADContext(key: writeKeys.encryption),
                                        uploadsInFlight: options.uploadsInFlight)

        // The page table is built as ids are captured (a delta against the parent's base while
        // that stays small), so no list of every page's id is kept.
        let fanout = repo.config.tableFanout
        let comparable = sameGeneration(parent?.manifest, sourceKey: own?.id)
        // A parent table that cannot be read only costs the shortcut: every page is then looked
        // up in the id set (the table itself reports the damage if it needs the parent).
        let parentPages = comparable.flatMap { $0.pageSize == pageSize ? try? ParentPages(repo: repo, tables: tables, codec: codecs[0], manifest: $0) : nil }
        let table = try PageTableStream(pageCount: pageCount, fanout: fanout, hasher: codecs[0].hasher,
                                        parent: try parentBase(comparable, pageSize: pageSize, tables: tables, keys: writeKeys),
                                        readLeaves: { [repo] in try repo.readBlobs($0, index: tables, keys: writeKeys) },
                                        storeLeaf: { try writer.storeBlob($0, type: .tableLeaf) })

        // Capture.
        let pipeline = PageBatchPipeline(pageSize: pageSize, batchPages: options.batchPages, framePages: options.framePages,
                                         codecs: codecs, known: known, writer: writer)
        try pipeline.run(capture, parentPages: parentPages, table: table, progress: options.progress)
        // The image is captured: release the read transaction (and, in rollback mode, the writers).
        capture.close()
        let captureSeconds = Date().timeIntervalSince(started)

        // Page table: a delta against the parent's base, or a new base's root.
        let (plan, digest) = try table.finish()
        let rootID: BlobID
        var deltaID: BlobID?
        switch plan {
        case .newBase(let leaves):
            rootID = try writer.storeBlob(PageTableFormat.encodeRoot(.init(pageCount: pageCount, pageSize: pageSize, fanout: fanout, leaves: leaves)), type: .tableRoot)
        case .delta(let root, let entries):
            rootID = root
            if !entries.isEmpty { deltaID = try writer.storeBlob(PageTableFormat.encodeDelta(entries), type: .tableDelta) }
        }

        // Index before manifest: a manifest must never reference blobs no index lists.
        try writer.finish()

        // Commit.
        let manifest = Manifest(version: 1, source: options.source, timeMs: captureTime.unixMilliseconds,
                                host: HostIdentity.hostName, database: databasePath,
                                pageSize: pageSize, pageCount: pageCount, journalMode: capture.journalMode,
                                tableRoot: rootID.hex, tableDelta: deltaID?.hex, deltaCount: plan.deltaCount,
                                parent: parent?.id, imageDigest: Hex.encode(digest), pagesNew: pipeline.pagesNew,
                                bytesAdded: writer.bytesAdded, toolVersion: LifeboatVersion.current,
                                keyGeneration: repo.keyring.current == 0 ? nil : repo.keyring.current, sourceKey: own?.id,
                                replication: options.replication?.point)
        try options.beforeCommit?()
        let saved = try repo.storeManifest(manifest)
        writer.addManifestBytes(saved.size)

        return SnapshotResult(id: saved.id, source: options.source, time: RFC3339.format(captureTime, fractional: true),
                              pages: pageCount, pagesNew: pipeline.pagesNew, bytesAdded: writer.bytesAdded, pageSize: pageSize,
                              databaseBytes: pageCount * pageSize, journalMode: capture.journalMode,
                              walFrames: capture.walFramesUsed, parent: parent?.id, newBase: plan.isNewBase,
                              deltaPages: plan.deltaCount, packs: writer.packCount,
                              seconds: Date().timeIntervalSince(started), captureSeconds: captureSeconds,
                              behind: copiesBehind())
    }

    /// A copy that already lacks objects the others have is not written to (its dedup view
    /// would be wrong); it is reported behind until `lifeboat sync` brings it up to date.
    private func skipLaggingCopies() {
        let backend = repo.backend
        guard backend.replicas.count > 1 else { return }
        for lag in Sync.lagging(backend) {
            guard let i = backend.replicas.firstIndex(where: { $0.location == lag.location }) else { continue }
            let why = lag.missing < 0 ? "unreachable" : "lacks \(lag.missing) snapshot or index object(s) the others have"
            backend.markBehind(i, LifeboatError(.incomplete, why))
        }
    }

    /// The copies that did not receive this snapshot, with the reason.
    private func copiesBehind() -> [String] {
        repo.backend.behind.map { "\($0.location): \($0.error.message)" }
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
