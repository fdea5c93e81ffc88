import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What a restore did, phase by phase (drills use the phases to break down the RTO).
public struct RestoreResult: Codable, Sendable {
    public var snapshot: String
    public var source: String
    public var time: String
    public var target: String
    public var pages: Int
    public var bytes: Int
    public var fetchedBytes: Int
    /// "ok" (SQLite's integrity_check passed now), "attested" (a passing `lifeboat verify`
    /// of this image made the check needless) or "unchecked" (--integrity-check never).
    public var integrity: String
    /// The same in words, for people and reports.
    public var integrityNote: String? = nil
    public var seconds: Double
    public var phases: [String: Double]
    /// Worker time (summed over threads) spent fetching, decrypting+decompressing and writing;
    /// these overlap inside the wall-clock phase fetch_decrypt_write, so drills report the split.
    public var workerSeconds: [String: Double] = [:]
    /// Whether this restore continued an interrupted one (--resume), and how many of its pages
    /// were already in place and checked.
    /// Transactions shipped by `replicate` replayed over the snapshot, from how many segments,
    /// and the time of the last one: the state the file holds (nil: the snapshot's own).
    public var replayedTransactions = 0
    public var replayedSegments = 0
    public var stateTime: String? = nil
    public var resumed: Bool = false
    public var reusedPages: Int = 0
}

/// Restores a snapshot to a file, a window of pages at a time (see PageLocator): fetch packs
/// in parallel (ranges coalesced, each blob read once however many pages share it), decrypt,
/// decompress, verify each page's keyed id against the snapshot's authenticated page table,
/// write runs of consecutive pages with one pwrite each into a temporary file; then fsync, run
/// PRAGMA integrity_check, and only then rename into place. (Reading the file back would only
/// read the page cache, so the byte check is the per-page MAC verification before writing.)
public final class Restorer {
    public struct Options: Sendable {
        public var workers = max(2, Parallel.workerCount)
        public var force = false
        /// Pages located and restored at a time: what a restore holds (about 45 bytes a page)
        /// stops growing with the database past 1 GiB, for one more pass over the index files
        /// a window.
        public var windowPages = 1 << 18
        /// Run SQLite's `PRAGMA integrity_check` on the rebuilt file before it replaces the
        /// target. Off only when the image is already attested (see UseCase.restore): every
        /// page is authenticated and the page list matches the image digest either way.
        public var integrityCheck = true
        /// Continue from the temporary file a killed or disconnected restore of the same
        /// target left: pages whose id is already right are kept, the others fetched.
        public var resume = false
        public var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
        /// Runs on the rebuilt image before it is flushed, checked and renamed: `replicate`'s
        /// transactions are replayed over it here (see SegmentReplay).
        package var replay: (@Sendable (_ fd: Int32, _ path: String) throws -> Void)? = nil
        public init() {}
    }

    package let repo: Repository
    package let options: Options
    /// Packs no copy could serve (missing, or failing authentication), with why: recorded in
    /// the repository when the restore ends (see RestoreDamage.swift).
    package let damageFound = Locked<[String: (problem: String, evidence: DamageRecord.Evidence)]>([:])

    public init(repository: Repository, options: Options = Options()) {
        self.repo = repository
        self.options = options
    }

    /// Worker threads of this restore (drills report it). Network stores get more fetchers in
    /// flight; each also decrypts what it fetched.
    public var workers: Int { max(1, options.workers, 2 * repo.backend.preferredConcurrency) }

    /// One page to fetch (20 bytes: a million pages cost 20 MB); its id is `ids[page]`.
    package struct Piece {
        package var pack: UInt32
        package var offset: UInt32
        package var length: UInt32
        package var page: Int32
        package var type: BlobType
        package var slot: UInt8
    }

    /// One range read; `members` are positions in the window's sorted pieces.
    package typealias Job = PackRange

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

        let keys = try repo.keys(for: m)
        // Located a window at a time, without the repository's whole index (see PageLocator).
        let locator = try PageLocator(repo: repo, keys: keys, manifest: m)
        var window = try locator.next(options.windowPages)
        phase("locate")

        let adopted = options.resume ? try TargetFile.adoptStale(near: target, size: m.pageCount * m.pageSize) : nil
        // Temporary files of restores of this target that were killed hold a full-size copy each.
        let stale = TargetFile.removeStale(near: target)
        if stale.count > 0 {
            Warnings.emit("removed \(stale.count) temporary file(s) (\(Units.formatBytes(stale.bytes))) left beside \(target) by restores that were killed")
        }
        if options.resume && adopted == nil {
            Warnings.emit("--resume: no interrupted restore of \(target) was found; restoring from the start")
        }
        let temp = try adopted ?? TargetFile.createTemporary(near: target, size: m.pageCount * m.pageSize)
        var keep = false
        // A restore that lost its network leaves what it wrote for --resume; any other failure
        // removes it.
        var leaveForResume = false
        defer { if !keep { leaveForResume ? temp.release() : temp.discard() } }
        var reused = 0
        defer { recordDamageFound() }

        let stages = Locked([0.0, 0.0, 0.0])
        var fetched = 0
        do {
            while true {
                if adopted != nil {
                    let t0 = Date()
                    reused += try dropPagesInPlace(&window, fd: temp.fd, path: temp.path, pageSize: m.pageSize, keys: keys)
                    phases["resume_check", default: 0] += Date().timeIntervalSince(t0)
                }
                let jobs = plan(&window.pieces)
                fetched += try fetchAndWrite(jobs: jobs, pieces: window.pieces, ids: window.ids, firstPage: window.first, totalPages: m.pageCount, packs: locator.packs,
                                             keys: keys, pageSize: m.pageSize, fd: temp.fd, path: temp.path, stages: stages)
                if locator.isDone { break }
                phases["fetch_decrypt_write", default: 0] += Date().timeIntervalSince(mark)
                mark = Date()
                // The window done is let go before the next is located: one window at a time.
                window = PageLocator.Located(first: 0, ids: [], pieces: [])
                window = try locator.next(options.windowPages)
                phases["locate", default: 0] += Date().timeIntervalSince(mark)
                mark = Date()
            }
        } catch let e as LifeboatError where e.kind == .network {
            leaveForResume = true
            throw LifeboatError(e.kind, "\(e.message); the pages restored so far stay beside the target: run the same restore with --resume to continue from them")
        }
        phases["fetch_decrypt_write", default: 0] += Date().timeIntervalSince(mark)
        mark = Date()
        if let replay = options.replay {
            try replay(temp.fd, temp.path)
            phase("replay")
        }

        // Flush to disk while SQLite checks the file (it reads the page cache): both must be done
        // before the rename, neither needs the other.
        let syncResult = Locked<Result<Double, Error>?>(nil)
        let syncDone = DispatchGroup()
        let file = UnsafeTransfer(temp)
        DispatchQueue.global().async(group: syncDone) {
            let t0 = Date()
            do {
                try file.value.sync()
                syncResult.withLock { $0 = .success(Date().timeIntervalSince(t0)) }
            } catch {
                syncResult.withLock { $0 = .failure(error) }
            }
        }
        let problems: [String]
        do {
            problems = options.integrityCheck ? try IntegrityCheck.run(path: temp.path) : ["ok"]
        } catch {
            syncDone.wait()
            throw error
        }
        syncDone.wait()
        if case .failure(let e)? = syncResult.current { throw e }
        if case .success(let seconds)? = syncResult.current { phases["fsync_overlapped"] = seconds }
        guard problems == ["ok"] else {
            throw LifeboatError(.corrupt, "restored database fails PRAGMA integrity_check (\(problems.first ?? "no result")); the snapshot itself may hold a damaged database. Nothing was written to \(target)")
        }
        if options.integrityCheck { phase("integrity_check") }
        try temp.commit(to: target, force: options.force)
        keep = true
        phase("rename")

        return RestoreResult(snapshot: record.id, source: m.source, time: RFC3339.format(m.time, fractional: true),
                             target: target, pages: m.pageCount, bytes: m.pageCount * m.pageSize,
                             fetchedBytes: fetched, integrity: options.integrityCheck ? "ok" : "unchecked",
                             seconds: Date().timeIntervalSince(started), phases: phases,
                             workerSeconds: ["fetch": stages.current[0], "decrypt_decompress": stages.current[1], "write": stages.current[2]],
                             resumed: adopted != nil, reusedPages: reused)
    }

    /// Whether every byte is zero, eight at a time.
    private static func isZero(_ page: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= page.count {
            if page.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < page.count {
            if page[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// With --resume: the pages of `window` the adopted file already holds — their keyed id is
    /// the one the page table names, so they are exactly the snapshot's — are dropped from
    /// what to fetch. A page torn by the kill, never written (zeros) or from another snapshot
    /// fails the comparison and is fetched. Returns how many were kept.
    package func dropPagesInPlace(_ window: inout PageLocator.Located, fd: Int32, path: String, pageSize: Int, keys: MasterKeys) throws -> Int {
        let count = window.ids.count
        guard count > 0 else { return 0 }
        let chunkPages = max(1, (4 << 20) / pageSize)
        let chunks = (count + chunkPages - 1) / chunkPages
        let workers = max(1, min(options.workers, chunks))
        let hashers = try (0..<workers).map { _ in try KeyedHash(key: keys.identifiers) }
        let buffers = (0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: 4096) }
        defer { buffers.forEach { $0.deallocate() } }
        let inPlace = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { inPlace.deallocate() }
        inPlace.initialize(repeating: false)
        let first = window.first
        // Never-written pages read as zeros: compared with the zero page's id, not hashed.
        let zeroID = hashers[0].id(UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer(rebasing: buffers[0][0..<pageSize]).initializeMemory(as: UInt8.self, repeating: 0)))
        let shared = UnsafeTransfer((hashers, buffers, inPlace, window.ids))
        try Parallel.forEach(count: chunks, workers: workers) { w, c in
            let (hashers, buffers, inPlace, ids) = shared.value
            let lo = c * chunkPages, n = min(count, lo + chunkPages) - lo
            let buffer = UnsafeMutableRawBufferPointer(rebasing: buffers[w][0..<(n * pageSize)])
            let got = try FileIO.pread(fd: fd, into: buffer, offset: (first + lo) * pageSize, path: path)
            if got < buffer.count { UnsafeMutableRawBufferPointer(rebasing: buffer[got...]).initializeMemory(as: UInt8.self, repeating: 0) }
            for i in 0..<n {
                let page = UnsafeRawBufferPointer(rebasing: buffer[(i * pageSize)..<((i + 1) * pageSize)])
                let id = Self.isZero(page) ? zeroID : hashers[w].id(page)
                inPlace[lo + i] = id == ids[lo + i]
            }
        }
        let before = window.pieces.count
        window.pieces.removeAll { inPlace[Int($0.page) - first] }
        return before - window.pieces.count
    }

    /// Orders the reads by pack and offset, each distinct blob once, and groups neighbours
    /// into range reads of at most `rangeBytes` (gaps under 256 KiB are read through).
    package func plan(_ pieces: inout [Piece]) -> [Job] {
        // Pages of one frame come together, so each frame is decrypted and decompressed once.
        pieces.sort { ($0.pack, $0.offset, $0.page) < ($1.pack, $1.offset, $1.page) }
        return PackRange.plan(count: pieces.count, maxGap: 256 << 10, maxSpan: rangeBytes) { (pieces[$0].pack, pieces[$0].offset, pieces[$0].length) }
    }

    /// The largest range read: 4 MiB from a local disk (read into each worker's buffer), 2 MiB
    /// from a network store, where eight reads are in flight and each is held whole until
    /// decoded (measured on S3: restore memory 84-88 MiB with 4 MiB, below restic's 82 with 2).
    package var rangeBytes: Int { repo.backend.readsIntoBuffer ? 4 << 20 : 2 << 20 }

    package func fetchAndWrite(jobs: [Job], pieces: [Piece], ids: [BlobID], firstPage: Int, totalPages: Int, packs: [String], keys: MasterKeys, pageSize: Int, fd: Int32, path: String, stages: Locked<[Double]>? = nil) throws -> Int {
        let workers = self.workers
        let codecs = UnsafeTransfer(try (0..<workers).map { _ in try BlobCodec(keys: keys, maxBlobSize: max(pageSize, 1 << 16)) })
        // Each worker assembles runs of consecutive pages and writes a run with one pwrite.
        let runPages = 64
        let buffers = UnsafeTransfer((0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: runPages * pageSize, alignment: 4096) })
        defer { buffers.value.forEach { $0.deallocate() } }
        let fetched = Locked(0)
        let done = Locked(0)
        let unflushed = Locked(0)
        let backend = repo.backend
        let progress = options.progress
        let damageFound = self.damageFound
        let shared = UnsafeTransfer((jobs, pieces, ids))
        // A local repository is read straight into each worker's buffer, past the page cache.
        let direct = backend.readsIntoBuffer
        let readBound = FileIO.directReadBound(jobs.reduce(0) { max($0, $1.end - $1.start) })
        let reads = UnsafeTransfer((0..<(direct ? workers : 0)).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: readBound, alignment: 4096) })
        defer { reads.value.forEach { $0.deallocate() } }
        try Parallel.forEach(count: jobs.count, workers: workers) { w, j in
            let (jobs, pieces, ids) = shared.value
            let job = jobs[j]
            let key = ObjectKey(.data, packs[Int(job.pack)])
            // A range whose blobs are missing or fail authentication is read again from the
            // next copy of the repository; pages already written are simply written again.
            do {
            try backend.firstGood({ copy in
                let t0 = Clock.monotonic()
                var fetchTime = 0.0, writeTime = 0.0
                func decode(_ data: UnsafeRawBufferPointer) throws {
                    fetchTime = Clock.monotonic() - t0
                    fetched.withLock { $0 += data.count }
                    try Self.decodeAndWrite(job: job, data: data, pieces: pieces, ids: ids, firstPage: firstPage, codec: codecs.value[w], run: buffers.value[w],
                                            runPages: runPages, pageSize: pageSize, fd: fd, path: path, writeTime: &writeTime)
                }
                if direct {
                    try decode(try copy.readRange(key, offset: job.start, length: job.end - job.start, into: reads.value[w]))
                } else {
                    let data = try copy.getRange(key, offset: job.start, length: job.end - job.start)
                    try data.withUnsafeBytes { try decode($0) }
                }
                if let stages {
                    let total = Clock.monotonic() - t0
                    stages.withLock { $0[0] += fetchTime; $0[1] += max(0, total - fetchTime - writeTime); $0[2] += writeTime }
                }
            }, fallsBack: { [.corrupt, .notFound, .network, .io, .auth].contains(($0 as? LifeboatError)?.kind) },
                note: { location, _ in "pack \(key.name.prefix(8)) read from \(location)" },
                exhausted: { $0.last?.error ?? LifeboatError(.notFound, "pack \(key.name.prefix(8)) is in no copy") })
            } catch let e as LifeboatError where e.kind == .corrupt || e.kind == .notFound {
                // No copy could serve it: the pack is recorded damaged (see DamageLedger).
                throw Self.noteDamagedPack(key.name, e, in: damageFound)
            }
            // Writeback starts every 64 MiB, so the fsync before the rename finds little left
            // to write (with an attested image nothing else overlaps it).
            let startWriteback = unflushed.withLock { bytes -> Bool in
                bytes += job.members.count * pageSize
                guard bytes >= 64 << 20 else { return false }
                bytes = 0
                return true
            }
            if startWriteback { FileIO.startWriteback(fd: fd) }
            if let progress {
                let n = done.withLock { $0 += job.members.count; return $0 }
                progress(firstPage + n, totalPages)
            }
        }
        return fetched.current
    }

    /// Decrypts and verifies the pages of one range and writes runs of consecutive pages.
    package static func decodeAndWrite(job: Job, data raw: UnsafeRawBufferPointer, pieces: [Piece], ids: [BlobID], firstPage: Int, codec: BlobCodec,
                               run: UnsafeMutableRawBufferPointer, runPages: Int, pageSize: Int, fd: Int32, path: String,
                               writeTime: inout Double) throws {
        var runFirst = -1, runCount = 0
        func flush() throws {
            guard runCount > 0 else { return }
            let w0 = Clock.monotonic()
            defer { writeTime += Clock.monotonic() - w0 }
            try FileIO.pwriteAll(fd: fd, UnsafeRawBufferPointer(rebasing: run[0..<(runCount * pageSize)]), offset: runFirst * pageSize, path: path)
            runCount = 0
        }
        var last: (offset: UInt32, slot: UInt8, run: Int)? = nil
        for k in job.members {
            let piece = pieces[k]
            let page = Int(piece.page)
            if runCount == runPages || (runCount > 0 && page != runFirst + runCount) { try flush() }
            if runCount == 0 { runFirst = page }
            let slot = UnsafeMutableRawBufferPointer(rebasing: run[(runCount * pageSize)..<((runCount + 1) * pageSize)])
            if let last, last.offset == piece.offset, last.slot == piece.slot, last.run < runCount {
                // Identical pages share a blob and come next to each other: decrypt once, copy.
                if let dst = slot.baseAddress, let src = run.baseAddress { dst.copyMemory(from: src + last.run * pageSize, byteCount: pageSize) }
            } else {
                let lo = Int(piece.offset) - job.start
                guard lo >= 0, lo + Int(piece.length) <= raw.count else {
                    throw LifeboatError(.corrupt, "pack range is shorter than the index says (truncated pack?)")
                }
                try codec.open(UnsafeRawBufferPointer(rebasing: raw[lo..<(lo + Int(piece.length))]), type: piece.type, slot: piece.slot, id: ids[page - firstPage],
                               into: slot, frameKey: UInt64(piece.pack) << 32 | UInt64(piece.offset))
            }
            last = (piece.offset, piece.slot, runCount)
            runCount += 1
        }
        try flush()
    }
}
