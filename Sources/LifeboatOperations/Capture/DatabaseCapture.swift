import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// A consistent page image of a live SQLite database, read without stopping its writers.
///
/// How: open the database read-only through SQLite and hold a read transaction for the whole
/// capture. In WAL mode that pins a WAL read mark, so no checkpoint can copy frames past it
/// into the database file and the log cannot be restarted; we then read the database file
/// and overlay the newest WAL frame of each page up to the last valid commit (the same method
/// as Litestream). Writers keep committing into the WAL meanwhile. In rollback-journal mode the
/// read transaction holds a SHARED lock, so the file cannot change while we read it (writers
/// wait until `close()`).
///
/// Nothing is written to the database or its WAL: no checkpoint, no journal change.
/// Our descriptor of the database file is never closed (DatabaseDescriptors): closing any
/// descriptor of a file drops the process's POSIX locks on it, SQLite's included.
public final class DatabaseCapture {
    public let path: String
    public let pageSize: Int
    public let pageCount: Int
    public let journalMode: String
    public let walFramesUsed: Int

    private var connection: SQLiteConnection?
    private let dbFD: Int32
    private let walFD: Int32
    private let wal: WALIndex
    private let dbFileSize: Int
    private var closed = false

    /// `walLimit`: capture the state at this replication position rather than at the last
    /// commit (the caller holds a read mark at or before it; see ReadMarks).
    public init(path: String, walLimit: WALPosition? = nil) throws {
        self.path = path
        guard let st = try FileIO.status(path) else {
            throw LifeboatError(.notFound, "database \(path) does not exist")
        }
        guard st.isRegularFile else { throw LifeboatError(.database, "\(path) is not a regular file") }
        guard st.size >= DatabaseHeader.size else {
            throw LifeboatError(.database, "\(path) is not an SQLite database (\(st.size) bytes)")
        }
        // Validate the header before SQLite touches the file, for a clear message.
        // Never closed: see DatabaseDescriptors (a close would drop this process's SQLite locks).
        let fd0 = try DatabaseDescriptors.descriptor(for: path)
        let head = try? FileIO.readExactly(fd: fd0, offset: 0, count: DatabaseHeader.size, path: path)
        _ = try DatabaseHeader(head ?? [], path: path)

        // Rollback-journal writers hold their lock only while committing; wait for them rather than fail.
        let conn = try SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 60_000)
        do {
            try conn.execute("BEGIN")
            // The first read starts the transaction and takes the WAL read mark / SHARED lock.
            _ = try conn.scalar("SELECT count(*) FROM sqlite_master")
        } catch let e as LifeboatError {
            if conn.lastErrorIsHotJournal { throw HotJournal.error(path) }
            throw LifeboatError(.database, "cannot start a read transaction on \(path): \(e.message)")
        }
        connection = conn

        dbFD = try DatabaseDescriptors.descriptor(for: path)
        let header = try DatabaseHeader(try FileIO.readExactly(fd: dbFD, offset: 0, count: DatabaseHeader.size, path: path), path: path)
        pageSize = header.pageSize
        var sb = stat()
        fstat(dbFD, &sb)
        dbFileSize = Int(sb.st_size)

        if header.isWAL {
            journalMode = "wal"
            let walPath = path + "-wal"
            walFD = open(walPath, O_RDONLY | O_CLOEXEC)
            if walFD >= 0 {
                wal = try WALIndex.read(fd: walFD, path: walPath, expectedPageSize: pageSize, limit: walLimit)
            } else {
                wal = .empty
            }
        } else {
            journalMode = "rollback"
            walFD = -1
            wal = .empty
        }
        walFramesUsed = wal.committedFrames

        if wal.pageCount > 0 {
            pageCount = wal.pageCount
        } else {
            // Page 1 may itself live in the WAL only when the WAL has commits, handled above.
            if header.versionValidFor == header.changeCounter && header.headerPageCount > 0 {
                pageCount = Int(header.headerPageCount)
            } else {
                pageCount = dbFileSize / pageSize
            }
        }
    }

    /// Reads pages [first, first+count) (0-based indexes) into `buffer` (count × pageSize bytes).
    /// Runs `body` on the capture's own read transaction: it sees exactly the state captured.
    package func withConnection<R>(_ body: (SQLiteConnection) throws -> R) throws -> R {
        guard let connection else { throw LifeboatError(.internalError, "database capture of \(path) already closed") }
        return try body(connection)
    }

    public func readPages(first: Int, count: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(first >= 0 && first + count <= pageCount && buffer.count >= count * pageSize)
        let want = count * pageSize
        let got = try FileIO.pread(fd: dbFD, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), offset: first * pageSize, path: path)
        if !wal.frames.isEmpty {
            for i in 0..<count {
                guard let off = wal.frames[UInt32(first + i + 1)] else { continue }
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[(i * pageSize)..<((i + 1) * pageSize)])
                let n = try FileIO.pread(fd: walFD, into: slice, offset: off, path: path + "-wal")
                guard n == pageSize else { throw LifeboatError(.database, "the WAL of \(path) shrank while it was being read; run the snapshot again") }
            }
        }
        if got < want {
            // Pages past the end of the main file must all come from the WAL.
            let firstMissing = got / pageSize
            for i in firstMissing..<count where wal.frames[UInt32(first + i + 1)] == nil {
                throw LifeboatError(.database, "\(path) is shorter than its page count (page \(first + i + 1) missing); it may be damaged — run PRAGMA integrity_check on it")
            }
        }
    }

    /// Ends the read transaction (releasing writers in rollback mode) and closes everything.
    public func close() {
        guard !closed else { return }
        closed = true
        try? connection?.execute("COMMIT")
        connection = nil
        if walFD >= 0 { Glibc.close(walFD) }
    }

    deinit { close() }
}
