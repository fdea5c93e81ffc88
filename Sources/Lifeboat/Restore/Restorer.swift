import Foundation

/// What a restore did, phase by phase (drills use the phases to break down the RTO).
public struct RestoreResult: Codable, Sendable {
    public var snapshot: String
    public var source: String
    public var time: String
    public var target: String
    public var pages: Int
    public var bytes: Int
    public var fetchedBytes: Int
    public var integrity: String
    public var seconds: Double
    public var phases: [String: Double]
}

/// Restores a snapshot to a file: fetch packs in parallel (ranges coalesced, each blob read
/// once however many pages share it), decrypt, decompress, verify each page's keyed id, write
/// it at its offset in a temporary file; then fsync, re-read and check every page against the
/// snapshot, run PRAGMA integrity_check, and only then rename into place.
public final class Restorer {
    public struct Options: Sendable {
        public var workers = max(2, Parallel.workerCount)
        public var force = false
        /// Re-read the written file and check each page's id (on top of integrity_check).
        public var verifyBytes = true
        public var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
        public init() {}
    }

    let repo: Repository
    let options: Options

    public init(repository: Repository, options: Options = Options()) {
        self.repo = repository
        self.options = options
    }

    struct Piece {
        var pack: UInt32
        var offset: UInt32
        var length: UInt32
        var type: BlobType
        var id: BlobID
        var page: Int32
    }

    struct Job {
        var pack: UInt32
        var start: Int
        var end: Int
        var pieces: Range<Int>
    }

    public func restore(_ record: SnapshotRecord, to target: String) throws -> RestoreResult {
        let started = Date()
        var phases: [String: Double] = [:]
        var mark = started
        func phase(_ name: String) {
            let now = Date()
            phases[name] = now.timeIntervalSince(mark)
            mark = now
        }
        let m = record.manifest
        try TargetFile.checkWritable(target, force: options.force)

        let index = try repo.loadIndex()
        let codec = try BlobCodec(keys: repo.keys)
        let ids = try PageTableReader(repo: repo, index: index, codec: codec).pageIDs(of: m)
        let (pieces, jobs) = try plan(ids: ids, index: index)
        phase("locate")

        let temp = try TargetFile.createTemporary(near: target, size: m.pageCount * m.pageSize)
        var keep = false
        defer { if !keep { temp.discard() } }

        let fetched = try fetchAndWrite(jobs: jobs, pieces: pieces, ids: ids, index: index, pageSize: m.pageSize, fd: temp.fd, path: temp.path)
        try temp.sync()
        phase("fetch_decrypt_write")

        if options.verifyBytes {
            try verifyWritten(fd: temp.fd, path: temp.path, ids: ids, pageSize: m.pageSize)
            phase("verify_bytes")
        }
        let problems = try SQLiteConnection(path: temp.path, immutable: true).integrityCheck()
        guard problems == ["ok"] else {
            throw LifeboatError(.corrupt, "restored database fails PRAGMA integrity_check (\(problems.first ?? "no result")); the snapshot itself may hold a damaged database. Nothing was written to \(target)")
        }
        phase("integrity_check")
        try temp.commit(to: target, force: options.force)
        keep = true
        phase("rename")

        return RestoreResult(snapshot: record.id, source: m.source, time: RFC3339.format(m.time, fractional: true),
                             target: target, pages: m.pageCount, bytes: m.pageCount * m.pageSize,
                             fetchedBytes: fetched, integrity: "ok",
                             seconds: Date().timeIntervalSince(started), phases: phases)
    }

    /// Orders the reads by pack and offset, each distinct blob once, and groups neighbours
    /// into range reads of at most 8 MiB (gaps under 256 KiB are read through).
    func plan(ids: [BlobID], index: BlobIndex) throws -> ([Piece], [Job]) {
        var pieces: [Piece] = []
        pieces.reserveCapacity(ids.count)
        for (p, id) in ids.enumerated() {
            guard let loc = index.location(id), Int(loc.pack) < index.packs.count else {
                throw LifeboatError(.corrupt, "page \(p + 1) of the snapshot is in no index (blob \(id.hex.prefix(16))): data is missing; run 'lifeboat check' and restore an older snapshot or from a replica")
            }
            pieces.append(Piece(pack: loc.pack, offset: loc.offset, length: loc.length, type: loc.type, id: id, page: Int32(p)))
        }
        pieces.sort { ($0.pack, $0.offset, $0.page) < ($1.pack, $1.offset, $1.page) }
        var jobs: [Job] = []
        var i = 0
        while i < pieces.count {
            var j = i + 1
            var end = Int(pieces[i].offset) + Int(pieces[i].length)
            while j < pieces.count, pieces[j].pack == pieces[i].pack {
                let o = Int(pieces[j].offset)
                let e = o + Int(pieces[j].length)
                guard o - end <= 256 << 10, max(e, end) - Int(pieces[i].offset) <= 8 << 20 else { break }
                end = max(end, e)
                j += 1
            }
            jobs.append(Job(pack: pieces[i].pack, start: Int(pieces[i].offset), end: end, pieces: i..<j))
            i = j
        }
        return (pieces, jobs)
    }

    func fetchAndWrite(jobs: [Job], pieces: [Piece], ids: [BlobID], index: BlobIndex, pageSize: Int, fd: Int32, path: String) throws -> Int {
        let workers = max(1, options.workers)
        let codecs = UnsafeTransfer(try (0..<workers).map { _ in try BlobCodec(keys: repo.keys, maxBlobSize: max(pageSize, 1 << 16)) })
        let buffers = UnsafeTransfer((0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 4096) })
        defer { buffers.value.forEach { $0.deallocate() } }
        let fetched = Locked(0)
        let done = Locked(0)
        let backend = repo.backend
        let packs = index.packs
        let progress = options.progress
        let shared = UnsafeTransfer((jobs, pieces))
        try Parallel.forEach(count: jobs.count, workers: workers) { w, j in
            let (jobs, pieces) = shared.value
            let job = jobs[j]
            let data = try backend.getRange(ObjectKey(.data, packs[Int(job.pack)]), offset: job.start, length: job.end - job.start)
            fetched.withLock { $0 += data.count }
            let page = buffers.value[w]
            var lastBlob: (UInt32, UInt32)? = nil
            try data.withUnsafeBytes { raw in
                for k in job.pieces {
                    let piece = pieces[k]
                    // Pages sharing a blob come next to each other: decrypt once, write many.
                    if lastBlob.map({ $0 != (piece.pack, piece.offset) }) ?? true {
                        let lo = Int(piece.offset) - job.start
                        try codecs.value[w].open(UnsafeRawBufferPointer(rebasing: raw[lo..<(lo + Int(piece.length))]), type: piece.type, id: piece.id, into: page)
                        lastBlob = (piece.pack, piece.offset)
                    }
                    try FileIO.pwriteAll(fd: fd, UnsafeRawBufferPointer(page), offset: Int(piece.page) * pageSize, path: path)
                }
            }
            if let progress {
                let n = done.withLock { $0 += job.pieces.count; return $0 }
                progress(n, pieces.count)
            }
        }
        return fetched.current
    }

    /// Reads the written file back and checks every page against its keyed id.
    func verifyWritten(fd: Int32, path: String, ids: [BlobID], pageSize: Int) throws {
        let workers = max(1, options.workers)
        let hashers = UnsafeTransfer(try (0..<workers).map { _ in try KeyedHash(key: repo.keys.identifiers) })
        let chunkPages = 256
        let chunks = (ids.count + chunkPages - 1) / chunkPages
        let buffers = UnsafeTransfer((0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: 4096) })
        defer { buffers.value.forEach { $0.deallocate() } }
        let shared = UnsafeTransfer(ids)
        try Parallel.forEach(count: chunks, workers: workers) { w, c in
            let ids = shared.value
            let first = c * chunkPages
            let n = min(chunkPages, ids.count - first)
            let buf = UnsafeMutableRawBufferPointer(rebasing: buffers.value[w][0..<(n * pageSize)])
            guard try FileIO.pread(fd: fd, into: buf, offset: first * pageSize, path: path) == n * pageSize else {
                throw LifeboatError(.io, "restored file \(path) is shorter than written; the disk may be failing")
            }
            for i in 0..<n where hashers.value[w].id(UnsafeRawBufferPointer(rebasing: buf[(i * pageSize)..<((i + 1) * pageSize)])) != ids[first + i] {
                throw LifeboatError(.io, "page \(first + i + 1) reads back different from what was written to \(path); the disk may be failing")
            }
        }
    }
}
