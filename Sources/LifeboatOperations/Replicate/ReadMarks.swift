import Foundation
import LifeboatCore

/// Keeps a read transaction open on a replicated database at every moment, so SQLite can
/// neither checkpoint past frames not yet shipped nor restart the log over them.
///
/// Two read-only connections take turns: the next one begins its read transaction (taking a
/// read mark at the log's current end) before the previous one ends, so there is no instant
/// without a mark. A checkpoint may still copy frames up to the oldest mark into the database
/// file; it cannot restart the log while a mark above zero is held, and a reader that began on
/// a fully checkpointed log (mark zero) stops any further copying until it ends.
///
/// Holding a mark forever would let the log grow without end, so once it passes the limit
/// `restartLog` lets SQLite start it over without losing a frame: checkpoint what is shipped
/// (writers go on), then hold the write lock for a moment (writers wait, as for any commit),
/// read the last frames, checkpoint those, take a fresh mark and let writers go; the next
/// commit starts the new log.
final class ReadMarks {
    let path: String
    private var readers: [SQLiteConnection]
    private var active = 0
    private var holding = false
    /// For `restartLog` only, made on first use; nil when the database cannot be opened for
    /// writing (then the log is left to the application's own checkpoints).
    private var writer: SQLiteConnection?
    private var checkpointer: SQLiteConnection?
    private var writerRefused = false

    init(path: String) throws {
        self.path = path
        readers = try (0..<2).map { _ in try SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 5000) }
        try begin(readers[0])
    }

    deinit { end() }

    private func begin(_ c: SQLiteConnection) throws {
        try c.execute("BEGIN")
        // The first read starts the transaction and takes the read mark.
        _ = try c.scalar("SELECT count(*) FROM sqlite_master")
        holding = true
    }

    /// Moves the mark to the log's current end: the next reader begins before this one ends.
    func advance() throws {
        let next = 1 - active
        try begin(readers[next])
        try? readers[active].execute("COMMIT")
        active = next
    }

    /// Copies the frames up to the mark into the database file (a passive checkpoint on
    /// replicate's own connection), right after the mark moved.
    ///
    /// Why replicate does it: while a mark is held SQLite cannot restart the log, so the log
    /// stays past the application's auto-checkpoint threshold and every commit tries a passive
    /// checkpoint. Each time the mark moves, the next commit would copy what the mark freed and
    /// fsync the log and the database, inside the application's COMMIT: at 100 commits/s one
    /// commit in a hundred, which is the 99th percentile (measured 1.43x the writer alone with
    /// two S3 replicas). Done here first, the application's attempts find nothing to copy (or
    /// the checkpoint lock taken, which a passive checkpoint does not wait for).
    func checkpointShipped() {
        guard let (_, c) = writerConnections() else { return }
        _ = try? c.query("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Ends every read transaction (at stop).
    func end() {
        guard holding else { return }
        for r in readers { try? r.execute("COMMIT") }
        holding = false
    }

    /// Lets SQLite restart the log. `readRest` runs while no writer can commit and must read
    /// (into memory) every committed frame not yet read. Returns false when the write lock was
    /// busy for a second or the database cannot be opened for writing: try again later.
    func restartLog(readRest: () throws -> Void) throws -> Bool {
        guard let (w, c) = writerConnections() else { return false }
        // The bulk of the copying while writers go on: up to the mark, which is at what is read.
        try advance()
        _ = try? c.query("PRAGMA wal_checkpoint(PASSIVE)")
        do { try w.execute("BEGIN IMMEDIATE") } catch { return false }
        defer { try? w.execute("COMMIT") }
        try readRest()
        for r in readers { try? r.execute("COMMIT") }
        holding = false
        _ = try? c.query("PRAGMA wal_checkpoint(PASSIVE)")
        // Begins before the write lock is let go: on a fully copied log this takes mark zero,
        // which lets the next writer restart the log and stops any copying after that.
        try begin(readers[active])
        return true
    }

    private func writerConnections() -> (SQLiteConnection, SQLiteConnection)? {
        if let writer, let checkpointer { return (writer, checkpointer) }
        guard !writerRefused else { return nil }
        do {
            let w = try SQLiteConnection(path: path, mode: .readWrite, busyTimeoutMilliseconds: 1000)
            let c = try SQLiteConnection(path: path, mode: .readWrite, busyTimeoutMilliseconds: 1000)
            writer = w
            checkpointer = c
            return (w, c)
        } catch {
            writerRefused = true
            Warnings.emit("replicate cannot open \(path) for writing, so it leaves checkpoints to the application: the WAL can grow while replicate holds its read mark")
            return nil
        }
    }
}
