import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Follows one database's WAL and ships every committed transaction, in segments, to every
/// replica (see ARCHITECTURE.md, "Continuous replication"). One thread; shipping and the
/// scheduled snapshots run beside it.
public final class SourceReplicator: @unchecked Sendable {
    // @unchecked: the loop's state is touched by the loop's thread only; what others read
    // (`status`) is behind `shared`'s lock.
    public struct Options: Sendable {
        /// A committed transaction is stored in every replica within about this long.
        public var interval: Double = 1
        /// How often the WAL is read. Transactions are dated by `CommitClock` (the -shm's
        /// header, every `clockPeriod`), or by the read that found them when it saw nothing.
        public var poll: Double = 0.1
        /// How often the commit clock looks at the -shm (0: no clock, dated when read).
        public var clockPeriod: Double = 0.01
        /// A snapshot this often, so a restore replays at most this much of the log (0: never).
        public var snapshotInterval: Double = 3600
        /// Frames of one WAL generation, in bytes, past which the log is restarted (ReadMarks).
        public var walLimit = 64 << 20
        /// Segments waiting for one replica, in bytes, before it is let fall behind.
        public var queueLimit = 256 << 20
        /// A transaction larger than this is not shipped as a segment: a snapshot takes it.
        public var maxTransactionBytes = 256 << 20
        public var snapshot = Snapshotter.Options(source: "")
        public var lock = RepositoryLock.Options()
        /// Where the snapshots' local audit trail goes (nil: the user's default; a drill keeps
        /// it in its scratch directory).
        public var auditDirectory: String? = nil
        public init() {}
    }

    public struct Status: Sendable {
        public var source: String
        public var lineage: String?
        public var seq: UInt64 = 0
        public var lastCommitSeenMs: Int64?
        public var lastShippedMs: Int64?
        public var pendingBytes = 0
        public var transactions = 0
        public var segments = 0
        public var snapshots = 0
        public var replicas: [(location: String, seq: UInt64, timeMs: Int64, failing: String?)] = []
    }

    public let source: String
    public let databasePath: String
    let repository: Repository
    let shippers: [SegmentShipper]
    let options: Options
    let log: ReplicationLog

    private var marks: ReadMarks?
    private let clock: CommitClock?
    private var follower: WALFollower?
    private var lineage = ""
    private var seq: UInt64 = 0
    private var position = WALPosition(salt1: 0, salt2: 0, checkpointSequence: 0, frames: 0, checksum0: 0, checksum1: 0, inode: 0)
    private var pending: [Segment.Transaction] = []
    private var pendingBytes = 0
    private var pendingWALEnd: WALPosition?
    private var pageSize = 0
    private var lastSnapshot = Date()
    private var lastTxnTimeMs: Int64 = 0
    private let snapshotRunning = Locked(false)
    private var snapshotThread: Thread?
    private let shared: Locked<Status>
    private let catchUp: ReplicaCatchUp
    /// Asked once per lineage (and after each snapshot, which may have made a source key).
    private var sealingKeys: (id: String?, keys: MasterKeys)?

    public init(source: String, databasePath: String, repository: Repository, options: Options, log: ReplicationLog) {
        self.source = source
        self.databasePath = databasePath
        self.repository = repository
        self.options = options
        self.log = log
        shippers = repository.backend.replicas.map { SegmentShipper(backend: $0, queueLimit: options.queueLimit, log: log) }
        shared = Locked(Status(source: source))
        catchUp = ReplicaCatchUp(source: source, log: log)
        clock = options.clockPeriod > 0 ? CommitClock(databasePath: databasePath, period: options.clockPeriod) : nil
    }

    public var status: Status {
        var s = shared.current
        s.replicas = shippers.map { sh in
            let p = sh.progress
            return (sh.location, p.lineage == s.lineage ? p.durableSeq : 0, p.durableTimeMs, p.failingSince.map { _ in p.lastError ?? "failing" })
        }
        return s
    }

    /// Runs until `stop` returns true, then ships what is committed and returns. A failure
    /// (the database deleted, say) still lets the replicas store what was shipped before it.
    public func run(stop: @escaping @Sendable () -> Bool) throws {
        try checkWALMode()
        shouldStop = stop
        shippers.forEach { $0.start() }
        clock?.start()
        defer { marks?.end(); clock?.stop() }
        var failure: Error?
        do {
            try startOrResume()
            try loop(stop: stop)
            // Stop: ship what is committed (not after a cut-off: that is the disaster).
            if !cut.current { try cycle(flushAll: true) }
        } catch {
            failure = error
        }
        if cut.current {
            shippers.forEach { $0.abandon() }
            log.event("cut-off", ["source": source, "lineage": lineage, "seq": "\(seq)"], important: true)
            return
        }
        while snapshotRunning.current { Thread.sleep(forTimeInterval: 0.05) }
        var left: [String] = []
        for s in shippers where !s.stop(timeout: 60) { left.append(s.location) }
        // Replicas that missed a snapshot or segments get them now (a replica still down stays behind).
        if failure == nil { left += catchUp.finish(shippers, timeout: 60).filter { !left.contains($0) } }
        let st = status
        let durable = st.replicas.map(\.timeMs).min() ?? 0
        log.event("stopped", ["source": source, "lineage": lineage, "seq": "\(seq)",
                              "stored_through": durable > 0 ? RFC3339.format(Date(unixMilliseconds: durable), fractional: true) : "-",
                              "replicas_behind": left.isEmpty ? "none" : left.joined(separator: ",")], important: true)
        if let failure { throw failure }
        if !left.isEmpty {
            throw LifeboatError(.incomplete, "replicate stopped before \(left.joined(separator: ", ")) stored every shipped transaction and snapshot of '\(source)'; bring it up to date with 'lifeboat sync', or the next run does")
        }
    }

    private var shouldStop: @Sendable () -> Bool = { false }
    private let cut = Locked(false)

    /// Ends the run as a crash would: nothing more is read, sealed or stored, and segments
    /// waiting for a replica are dropped (a drill's disaster). `run` returns soon after.
    public func cutOff() {
        cut.withLock { $0 = true }
        shippers.forEach { $0.abandon() }
    }
    private var nextRestart = Date()

    private func loop(stop: @Sendable () -> Bool) throws {
        var nextAdvance = Date()
        var nextCatchUp = Date()
        while !stop() && !cut.current {
            Thread.sleep(forTimeInterval: options.poll)
            if cut.current { return }
            try timed("read and seal") { try cycle() }
            guard !snapshotRunning.current else { continue }
            // While every replica fails, the mark stays: the WAL keeps what is not stored anywhere
            // (and grows). Otherwise frames read but not yet stored live in memory only until
            // stored; a crash then costs a snapshot at the next start, never a gap.
            let someReplicaHoldsAll = shippers.contains { $0.progress.failingSince == nil }
            if Date() >= nextAdvance, someReplicaHoldsAll, markMayMove() {
                try timed("move the read mark") {
                    try moveMark()
                    marks?.checkpointShipped()
                }
                nextAdvance = Date().addingTimeInterval(options.interval)
            }
            if Int(position.frames) * (WALIndex.frameHeaderSize + pageSize) > options.walLimit, someReplicaHoldsAll, Date() >= nextRestart, markMayMove() {
                try timed("restart the WAL") { try restartLog() }
                nextRestart = Date().addingTimeInterval(0.5)
            }
            if Date() >= nextCatchUp {
                catchUp.tick(shippers)
                nextCatchUp = Date().addingTimeInterval(2)
            }
            if options.snapshotInterval > 0, Date().timeIntervalSince(lastSnapshot) >= options.snapshotInterval {
                // The mark first, then read to the end: the mark is then at or before the
                // snapshot's position, which keeps that state readable until the mark moves.
                guard markMayMove() else { continue }
                try moveMark()
                try readCommitted(toEnd: true)
                startScheduledSnapshot()
            }
        }
    }

    /// Where the mark was put last: the wal-index header just after (at or past the mark).
    private var markedAt: WALIndexHeader?

    /// Whether the read mark may move now: only when the WAL has been read up to where the
    /// mark is. Moving it can let SQLite restart the log: a reader that begins on a log copied
    /// whole into the database takes no mark at all, and the next commit then starts the log
    /// over. That can only happen when nothing was committed since the mark was put (the
    /// copying stops at the mark), so once everything up to the mark is read, every frame of
    /// the old log is read before it is gone. (The follower also refuses, as a break, a new log
    /// that follows an old one it had seen further than it read.)
    private func markMayMove() -> Bool {
        guard let now = WALIndexHeader.read(databasePath: databasePath) else { return true }
        // Not yet into the log's current generation: read on first.
        if !now.isGeneration(position.salt1, position.salt2) { return position.salt1 == 0 && position.salt2 == 0 && position.frames == 0 }
        if let m = markedAt, m.isGeneration(now.salt1, now.salt2), position.frames < m.mxFrame { return false }
        return true
    }

    private func moveMark() throws {
        try marks?.advance()
        markedAt = WALIndexHeader.read(databasePath: databasePath)
    }

    /// Runs one step of the loop; one that holds the loop up for longer than the interval
    /// (transactions wait meanwhile) is logged with its time, so a lag can be explained.
    private func timed(_ step: String, _ body: () throws -> Void) throws {
        let t0 = Clock.monotonic()
        try body()
        let seconds = Clock.monotonic() - t0
        if seconds > options.interval {
            log.event("slow-step", ["source": source, "step": step, "seconds": String(format: "%.2f", seconds)], important: true)
        }
    }

    private func checkWALMode() throws {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw LifeboatError(.notFound, "database \(databasePath) of source '\(source)' does not exist")
        }
        let fd = try DatabaseDescriptors.descriptor(for: databasePath)
        let header = try DatabaseHeader(try FileIO.readExactly(fd: fd, offset: 0, count: DatabaseHeader.size, path: databasePath), path: databasePath)
        guard header.isWAL else {
            throw LifeboatError(.usage, "\(databasePath) (source '\(source)') uses a rollback journal; replicate follows the WAL: switch it once with PRAGMA journal_mode=WAL, or keep taking snapshots of it")
        }
        pageSize = header.pageSize
    }

    // MARK: lineage

    private func startOrResume() throws {
        marks = try ReadMarks(path: databasePath)
        markedAt = WALIndexHeader.read(databasePath: databasePath)
        follower = WALFollower(databasePath: databasePath, pageSize: pageSize)
        if let resumed = try resumePoint() {
            lineage = resumed.lineage
            seq = resumed.seq
            position = resumed.wal
            lastTxnTimeMs = resumed.timeMs
            for s in shippers { s.setDurable(lineage: lineage, seq: resumed.seqs[s.location] ?? 0, timeMs: resumed.timeMs) }
            try catchUp(resumed.names)
            // Until this first read, no mark of ours kept SQLite from restarting the log.
            try readCommitted(allowRestart: false)
            lastSnapshot = resumed.snapshotTime
            log.event("resumed", ["source": source, "lineage": lineage, "seq": "\(seq)"], important: true)
            publish()
        } else {
            try newLineage(because: "no replicated position of this database in the repository")
        }
    }

    /// Where the newest lineage of this source stands in the replicas, when this database's
    /// WAL still holds that position; nil means a new lineage.
    private func resumePoint() throws -> (lineage: String, seq: UInt64, wal: WALPosition, timeMs: Int64, snapshotTime: Date, seqs: [String: UInt64], names: [SegmentName])? {
        var names = Set<SegmentName>()
        var seqs: [String: [String: UInt64]] = [:]
        for s in shippers {
            guard let listed = try? listSegments(s.backend) else { continue }
            names.formUnion(listed)
            for n in listed { seqs[n.lineage, default: [:]][s.location] = max(seqs[n.lineage]?[s.location] ?? 0, n.lastSeq) }
        }
        let snapshots = (try? repository.listSnapshots(source: source)) ?? []
        let lastSnap = snapshots.last(where: { $0.manifest.replication != nil })
        // The newest lineage: of the newest segment, or of the newest replicated snapshot.
        let newestSegment = names.max { $0.lastTimeMs < $1.lastTimeMs }
        let lin: String
        if let seg = newestSegment, seg.lastTimeMs >= (lastSnap?.manifest.timeMs ?? .min) { lin = seg.lineage } else if let l = lastSnap?.manifest.replication?.lineage { lin = l } else { return nil }
        let mine = names.filter { $0.lineage == lin }.sorted()
        let base = snapshots.last { $0.manifest.replication?.lineage == lin }
        guard let base, let baseWAL = base.manifest.replication?.wal else { return nil }
        var at = (seq: base.manifest.replication?.seq ?? 0, wal: baseWAL, timeMs: base.manifest.timeMs)
        if let last = mine.last, last.lastSeq > at.seq {
            // The segments must run without a gap from the base to the last one.
            var expect = at.seq
            for n in mine where n.lastSeq > expect {
                guard n.firstSeq <= expect + 1 else { return nil }
                expect = n.lastSeq
            }
            let segment = try repository.loadSegment(last, source: source)
            at = (last.lastSeq, segment.walEnd, last.lastTimeMs)
        }
        guard let inode = WALFollower.databaseInode(databasePath), inode == at.wal.inode, let follower, try follower.holds(at.wal) else {
            log.event("break", ["source": source, "lineage": lin, "seq": "\(at.seq)",
                                "reason": "the WAL no longer holds the last shipped position (checkpointed or replaced while replicate was not running)",
                                "action": "taking a snapshot, new lineage"], important: true)
            return nil
        }
        var bySeq = seqs[lin] ?? [:]
        for s in shippers where bySeq[s.location] == nil { bySeq[s.location] = 0 }
        return (lin, at.seq, at.wal, at.timeMs, base.manifest.time, bySeq, mine)
    }

    private func listSegments(_ backend: any Backend) throws -> [SegmentName] {
        try repository.listSegments(source: source, in: backend)
    }

    /// A replica that lacks segments of the lineage others hold gets copies now.
    private func catchUp(_ names: [SegmentName]) throws {
        guard shippers.count > 1 else { return }
        for s in shippers {
            guard let have = try? Set(listSegments(s.backend)) else { continue }
            let missing = names.filter { !have.contains($0) }
            guard !missing.isEmpty else { continue }
            var copied = 0
            for name in missing {
                for other in shippers where other !== s {
                    guard let bytes = try? other.backend.get(name.key), SHA256.hex(bytes) == name.digest else { continue }
                    do { try s.backend.put(name.key, bytes) } catch let e as LifeboatError where e.kind == .exists {}
                    copied += 1
                    break
                }
            }
            log.event("replica-caught-up", ["source": source, "replica": s.location, "segments": "\(copied)"], important: true)
        }
    }

    /// Starts a lineage at a snapshot of the database's state now (the first run, or after a
    /// break in the WAL that cannot be proven continuous).
    private func newLineage(because reason: String) throws {
        try flush()
        // A scheduled snapshot relies on the mark staying where it was: let it finish first.
        while snapshotRunning.current { Thread.sleep(forTimeInterval: 0.05) }
        lineage = String(format: "%016llx", UInt64.random(in: 1...UInt64.max))
        seq = 0
        if marks == nil { marks = try ReadMarks(path: databasePath) }
        // The position jumps to the log's end below (the snapshot holds all before it), so the
        // mark may move wherever the reading stands; and the old database's notes go.
        try moveMark()
        clock?.reset()
        guard let inode = WALFollower.databaseInode(databasePath) else {
            throw LifeboatError(.notFound, "database \(databasePath) of source '\(source)' was deleted; replication of it stops (restore it with 'lifeboat restore latest')")
        }
        follower = WALFollower(databasePath: databasePath, pageSize: pageSize)
        position = try follower?.currentEnd(inode: inode) ?? position
        let time = Date()
        log.event("lineage", ["source": source, "lineage": lineage, "reason": reason, "action": "snapshot"], important: true)
        try takeSnapshot(point: ReplicationPoint(lineage: lineage, seq: 0, wal: position), time: time)
        lastTxnTimeMs = time.unixMilliseconds
        publish()
    }

    /// A snapshot at the stream's position `wal`, recorded as `point` of the lineage and dated
    /// `time`. Reads only what never changes, so the scheduled snapshot's thread may call it.
    private func snapshot(point: ReplicationPoint, wal: WALPosition, time: Date) throws -> SnapshotResult {
        var opts = options.snapshot
        opts.replication = (point, wal, time)
        return try UseCase.snapshot(repository, source: source, databasePath: databasePath, options: opts, lock: options.lock, auditDirectory: options.auditDirectory)
    }

    private func takeSnapshot(point: ReplicationPoint, time: Date) throws {
        let r = try snapshot(point: point, wal: point.wal ?? position, time: time)
        lastSnapshot = Date()
        sealingKeys = nil
        snapshotTaken(r, point)
    }

    /// Counts and logs a snapshot; the replicas that did not get it are caught up later.
    private func snapshotTaken(_ r: SnapshotResult, _ point: ReplicationPoint) {
        shared.withLock { $0.snapshots += 1 }
        log.event("snapshot", ["source": source, "snapshot": String(r.id.prefix(8)), "lineage": point.lineage, "seq": "\(point.seq)",
                               "pages_new": "\(r.pagesNew)", "seconds": String(format: "%.2f", r.seconds)])
        for b in repository.backend.behind { catchUp.mark(b.location) }
    }

    /// The scheduled snapshot runs beside the loop; the read mark stays put meanwhile, so the
    /// state at its position stays readable (see WALIndex's limit).
    private func startScheduledSnapshot() {
        guard !snapshotRunning.current else { return }
        let wal = position
        let point = ReplicationPoint(lineage: lineage, seq: seq, wal: wal)
        let time = Date(unixMilliseconds: lastTxnTimeMs)
        snapshotRunning.withLock { $0 = true }
        lastSnapshot = Date()
        let me = UnsafeTransfer(self)
        let t = Thread {
            defer { me.value.snapshotRunning.withLock { $0 = false } }
            do {
                let r = try me.value.snapshot(point: point, wal: wal, time: time)
                me.value.snapshotTaken(r, point)
            } catch {
                me.value.log.event("snapshot-failed", ["source": me.value.source, "error": (error as? LifeboatError)?.message ?? "\(error)",
                                                       "action": "segments go on; retried at the next interval"], important: true)
            }
        }
        t.name = "snapshot \(source)"
        snapshotThread = t
        t.start()
    }

    // MARK: the loop

    private func cycle(flushAll: Bool = false) throws {
        guard let inode = WALFollower.databaseInode(databasePath) else {
            try flush()
            throw LifeboatError(.notFound, "database \(databasePath) of source '\(source)' was deleted; replication of it stops after shipping every transaction committed before (restore it with 'lifeboat restore latest')")
        }
        if inode != position.inode {
            try flush()
            marks = nil
            marks = try ReadMarks(path: databasePath)
            try checkWALMode()
            try newLineage(because: "the database file was replaced")
            return
        }
        try readCommitted()
        if let first = pending.first, flushAll || pendingBytes >= 16 << 20
            || Double(Date().unixMilliseconds - first.timeMs) / 1000 >= options.interval / 2 {
            try flush()
        }
    }

    /// Reads what is committed after the position into `pending`. `toEnd`: up to the log's
    /// end, whatever is due meanwhile (under the write lock, or before a snapshot at the end).
    private func readCommitted(allowRestart: Bool = true, toEnd: Bool = false) throws {
        guard let follower else { return }
        var allowRestart = allowRestart
        while true {
            defer { allowRestart = true }
            switch try follower.read(after: position, maxBytes: 8 << 20, allowRestart: allowRestart) {
            case .broken(let why):
                try flush()
                try newLineage(because: why)
                return
            case .transactions(let ts):
                if ts.isEmpty { return }
                let now = Date().unixMilliseconds
                for t in ts {
                    if t.bytes > options.maxTransactionBytes {
                        // Too large for a segment (a VACUUM of a large database): a snapshot carries it.
                        position = t.end
                        try flush()
                        try newLineage(because: "a transaction of \(Units.formatBytes(t.bytes)) (larger than a segment takes)")
                        return
                    }
                    seq += 1
                    let seen = clock?.time(salt1: t.end.salt1, salt2: t.end.salt2, frames: t.end.frames).map { min($0, now) } ?? now
                    lastTxnTimeMs = max(seen, lastTxnTimeMs)
                    pending.append(Segment.Transaction(seq: seq, timeMs: lastTxnTimeMs, databasePages: t.databasePages, pages: t.pages, data: t.data))
                    pendingBytes += t.bytes
                    position = t.end
                    pendingWALEnd = t.end
                }
                shared.withLock { $0.lastCommitSeenMs = now; $0.transactions += ts.count; $0.pendingBytes = pendingBytes }
                if pendingBytes >= 16 << 20 { try flush() }
                // Back to the loop once the read reached the log's end, or a segment is due:
                // under steady writes a read always finds more, and the loop seals segments.
                if ts.reduce(0, { $0 + $1.bytes }) < 8 << 20 { return }
                if !toEnd, let first = pending.first, Double(Date().unixMilliseconds - first.timeMs) / 1000 >= options.interval / 2 { return }
            }
        }
    }

    /// Seals what is pending into one segment and queues it for every replica. Waits while no
    /// replica can take more (they are all down and full): the WAL keeps what is not shipped.
    private func flush() throws {
        guard let first = pending.first, let walEnd = pendingWALEnd, !cut.current else { return }
        let segment = Segment(source: source, lineage: lineage, pageSize: pageSize, follows: first.seq - 1, transactions: pending, walEnd: walEnd)
        if sealingKeys == nil { sealingKeys = try repository.segmentKeys(source: source) }
        let sealed = try repository.sealSegment(segment, keys: sealingKeys)
        while shippers.allSatisfy(\.isFull) {
            if shouldStop() { throw LifeboatError(.incomplete, "stopped while no replica of '\(source)' could take more segments; the WAL keeps the transactions not shipped and the next run resumes from what the replicas hold") }
            Thread.sleep(forTimeInterval: 0.2)
        }
        for s in shippers {
            if !s.enqueue(sealed, dropIfFull: true) { continue }
        }
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        shared.withLock { $0.segments += 1; $0.pendingBytes = 0; $0.lastShippedMs = segment.lastTimeMs }
        publish()
    }

    private func restartLog() throws {
        guard let marks else { return }
        // It moves the mark too, whether or not the log restarts.
        defer { markedAt = WALIndexHeader.read(databasePath: databasePath) }
        let restarted = try marks.restartLog { try readCommitted(toEnd: true) }
        // What was read under the write lock is in memory only: ship it now.
        try flush()
        if restarted { log.event("wal-restart", ["source": source, "frames": "\(position.frames)"]) }
    }

    private func publish() {
        shared.withLock { $0.lineage = lineage; $0.seq = seq }
    }
}
