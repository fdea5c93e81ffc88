import Foundation
import LifeboatCore

/// A steady write workload for drills and consistency tests. Each transaction commits a marker
/// row `lifeboat_markers(seq, committed_at_ms, payload)` and, in the same transaction, the same
/// seq in `lifeboat_marker_log` and `lifeboat_marker_state` (and touches a process row when the
/// database has them). A restored copy therefore shows how many transactions it holds (RPO) and
/// whether any was torn (the three tables disagree). Works in WAL and rollback-journal mode.
public final class WriteLoad: Sendable {
    public struct Options: Sendable {
        public var commitsPerSecond: Double
        /// Seconds to run; nil runs until `stop()` (or `maxCommits`).
        public var duration: Double?
        public var maxCommits: Int?
        /// Switch the database to this mode first; nil keeps its current mode.
        public var journalMode: JournalMode?
        public var payloadBytes: Int
        /// Also update `requests.updated_at` of a random request in each transaction, when present.
        public var touchProcessRows: Bool
        public var seed: UInt64

        public init(commitsPerSecond: Double, duration: Double? = nil, maxCommits: Int? = nil,
                    journalMode: JournalMode? = nil, payloadBytes: Int = 200,
                    touchProcessRows: Bool = true, seed: UInt64 = 1) {
            self.commitsPerSecond = commitsPerSecond
            self.duration = duration
            self.maxCommits = maxCommits
            self.journalMode = journalMode
            self.payloadBytes = payloadBytes
            self.touchProcessRows = touchProcessRows
            self.seed = seed
        }
    }

    /// What has been committed so far; safe to read from another thread while the load runs.
    public struct Progress: Sendable, Codable, Equatable {
        public var commits: Int
        /// Seq of the first marker this run committed (0 when none yet).
        public var firstSeq: Int64
        public var lastSeq: Int64
        /// Wall-clock time (ms since the epoch) stored in the newest committed marker.
        public var lastCommittedAtMs: Int64
    }

    public struct Result: Sendable, Codable, Equatable {
        public var commits: Int
        public var firstSeq: Int64
        public var lastSeq: Int64
        public var lastCommittedAtMs: Int64
        public var seconds: Double
        public var commitsPerSecond: Double
        public var journalMode: String
    }

    /// One transaction the load saw commit: what RPO counts as committed work.
    public struct Committed: Sendable, Codable, Equatable {
        public var seq: Int64
        public var ms: Int64
    }

    public let path: String
    public let options: Options
    private let stopRequested = Locked(false)
    private let current = Locked(Progress(commits: 0, firstSeq: 0, lastSeq: 0, lastCommittedAtMs: 0))
    private let background = Locked<(done: DispatchSemaphore, result: Swift.Result<Result, Error>?)?>(nil)
    /// Every committed transaction, in order: the drill's count of committed work lost.
    private let committedLog = Locked<[Committed]>([])

    public init(path: String, options: Options) throws {
        guard options.commitsPerSecond > 0, options.commitsPerSecond <= 100_000 else {
            throw LifeboatError(.usage, "commit rate must be between 0 and 100000 per second (got \(options.commitsPerSecond))")
        }
        if let duration = options.duration, duration < 0 {
            throw LifeboatError(.usage, "duration must not be negative")
        }
        self.path = path
        self.options = options
    }

    public var progress: Progress { current.current }

    /// Every transaction committed so far, oldest first, as the application saw it commit
    /// (16 bytes each). Kept also when the load ends in an error, e.g. on a damaged file.
    public var committed: [Committed] { committedLog.current }

    /// Asks a running load to stop after the transaction in flight.
    public func stop() { stopRequested.withLock { $0 = true } }

    private var shouldStop: Bool { stopRequested.current }

    /// Runs on a thread of its own; collect the result with `wait()`.
    public func start() {
        let done = DispatchSemaphore(value: 0)
        background.withLock { $0 = (done, nil) }
        let thread = Thread { [self] in
            let outcome = Swift.Result { try self.run() }
            background.withLock { $0?.result = outcome }
            done.signal()
        }
        thread.name = "lifeboat-write-load"
        thread.start()
    }

    /// Waits for a load begun with `start()` (call `stop()` first to end an open-ended one).
    public func wait() throws -> Result {
        guard let done = background.withLock({ $0?.done }) else {
            throw LifeboatError(.internalError, "WriteLoad.wait() called without start()")
        }
        done.wait()
        done.signal() // let a second wait() return too
        guard let outcome = background.withLock({ $0?.result }) else {
            throw LifeboatError(.internalError, "write load ended without a result")
        }
        return try outcome.get()
    }

    /// Stops a load begun with `start()` and returns what it committed, also when it ended in an
    /// error (a drill's disaster may damage the file under it): the error comes beside.
    public func finish() -> (result: Result, error: Error?) {
        stop()
        let outcome = Swift.Result { try wait() }
        switch outcome {
        case .success(let r): return (r, nil)
        case .failure(let e):
            let p = progress
            return (Result(commits: p.commits, firstSeq: p.firstSeq, lastSeq: p.lastSeq, lastCommittedAtMs: p.lastCommittedAtMs,
                           seconds: 0, commitsPerSecond: 0, journalMode: "unknown"), e)
        }
    }

    /// Runs the load on the calling thread until the duration, `maxCommits` or `stop()`.
    @discardableResult
    public func run() throws -> Result {
        // Writers wait, not fail, while a snapshot or a drill holds the database for a moment.
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate, busyTimeoutMilliseconds: 60_000)
        if let mode = options.journalMode {
            let got = try db.scalar("PRAGMA journal_mode = \(mode.pragmaValue)")?.text?.lowercased()
            guard got == mode.rawValue else {
                throw LifeboatError(.database, "could not switch \(path) to journal mode \(mode.rawValue) (got \(got ?? "nothing"))")
            }
        }
        let journalMode = try db.scalar("PRAGMA journal_mode")?.text?.lowercased() ?? "unknown"
        // What engines run with: durable at commit in rollback mode, at checkpoint in WAL mode.
        try db.execute("PRAGMA synchronous = \(journalMode == "wal" ? "NORMAL" : "FULL")")
        try db.execute(WriteLoadSchema.create)

        let insertMarker = try db.prepare("INSERT INTO lifeboat_markers (seq, committed_at_ms, payload) VALUES (?, ?, ?)")
        let insertLog = try db.prepare("INSERT INTO lifeboat_marker_log (seq, committed_at_ms, checksum) VALUES (?, ?, ?)")
        let updateState = try db.prepare("""
            INSERT INTO lifeboat_marker_state (id, last_seq, last_committed_at_ms) VALUES (1, ?, ?)
            ON CONFLICT(id) DO UPDATE SET last_seq = excluded.last_seq, last_committed_at_ms = excluded.last_committed_at_ms
            """)
        let maxRequest = options.touchProcessRows ? try WriteLoadSchema.maxRequestID(db) : 0
        let touchRequest = maxRequest > 0 ? try db.prepare("UPDATE requests SET updated_at = ? WHERE id = ?") : nil
        let begin = try db.prepare("BEGIN IMMEDIATE")
        let commit = try db.prepare("COMMIT")

        var seq = try db.scalar("SELECT coalesce(max(seq), 0) FROM lifeboat_markers")?.integer ?? 0
        var rng = SeededGenerator(seed: options.seed &+ UInt64(bitPattern: seq))
        let content = ProcessContent()
        var payload: [UInt8] = []
        let interval = 1.0 / options.commitsPerSecond
        let started = Clock.monotonic()
        var commits = 0

        while !shouldStop {
            if let maxCommits = options.maxCommits, commits >= maxCommits { break }
            // Commit i is due at start + i/rate; a late commit goes at once, no burst to catch up.
            let due = started + Double(commits) * interval
            if let duration = options.duration, due - started >= duration { break }
            let wait = due - Clock.monotonic()
            if wait > 0 { Clock.sleep(seconds: wait) }
            if shouldStop { break }

            seq += 1
            payload.removeAll(keepingCapacity: true)
            content.appendProse(options.payloadBytes, to: &payload, &rng)
            let now = Clock.wallMilliseconds()
            try begin.execute()
            do {
                try insertMarker.bind(1, int64: seq)
                try insertMarker.bind(2, int64: now)
                try insertMarker.bind(3, utf8: payload)
                try insertMarker.execute()
                try insertLog.bind(1, int64: seq)
                try insertLog.bind(2, int64: now)
                try insertLog.bind(3, int64: WriteLoadSchema.checksum(seq: seq, at: now))
                try insertLog.execute()
                try updateState.bind(1, int64: seq)
                try updateState.bind(2, int64: now)
                try updateState.execute()
                if let touchRequest {
                    try touchRequest.bind(1, int64: now)
                    try touchRequest.bind(2, int64: 1 + Int64(rng.below(Int(maxRequest))))
                    try touchRequest.execute()
                }
                try commit.execute()
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
            commits += 1
            let committedSeq = seq
            current.withLock { p in
                if p.commits == 0 { p.firstSeq = committedSeq }
                p.commits = commits
                p.lastSeq = committedSeq
                p.lastCommittedAtMs = now
            }
            committedLog.withLock { $0.append(Committed(seq: committedSeq, ms: now)) }
        }
        let seconds = Clock.monotonic() - started
        let p = progress
        return Result(commits: p.commits, firstSeq: p.firstSeq, lastSeq: p.lastSeq, lastCommittedAtMs: p.lastCommittedAtMs,
                      seconds: seconds, commitsPerSecond: seconds > 0 ? Double(p.commits) / seconds : 0,
                      journalMode: journalMode)
    }

    /// Reads the markers of a database (typically a restored copy) and checks they are whole.
    public static func inspect(path: String) throws -> MarkerSummary {
        let db = try SQLiteConnection(path: path, mode: .readOnly)
        return try WriteLoadSchema.inspect(db)
    }
}

/// The markers found in a database, and whether they are consistent.
public struct MarkerSummary: Sendable, Codable, Equatable {
    public var count: Int
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// Time stored in the newest marker; RPO = last committed before the disaster minus this.
    public var lastCommittedAtMs: Int64
    /// Seqs missing between the first and last marker (a committed transaction lost).
    public var gaps: Int
    /// Transactions whose rows disagree across the marker tables (a torn transaction).
    public var tornTransactions: Int
    public var isConsistent: Bool { gaps == 0 && tornTransactions == 0 }

    package init(count: Int, firstSeq: Int64, lastSeq: Int64, lastCommittedAtMs: Int64, gaps: Int, tornTransactions: Int) {
        self.count = count
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.lastCommittedAtMs = lastCommittedAtMs
        self.gaps = gaps
        self.tornTransactions = tornTransactions
    }
}
