import CSQLite
import Foundation

/// A small, safe wrapper over one SQLite connection. Used by capture (to hold a read
/// transaction), restore (integrity_check), the workload generator and drills.
/// A connection is used by one thread at a time.
public final class SQLiteConnection {
    public enum Mode: Sendable { case readOnly, readWrite, readWriteCreate }

    package let handle: OpaquePointer
    public let path: String

    /// `immutable` opens read-only without locks or -shm/-wal files (SQLite's immutable=1):
    /// for verifying a restored file nobody else uses, leaving nothing behind.
    public init(path: String, mode: Mode = .readWrite, immutable: Bool = false, busyTimeoutMilliseconds: Int32 = 5000) throws {
        self.path = path
        var flags: Int32 = SQLITE_OPEN_NOMUTEX
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        var name = path
        if immutable {
            flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/-._~"))
            name = "file:" + (path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path) + "?immutable=1"
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close(db)
            throw LifeboatError(.database, "cannot open SQLite database \(path): \(msg)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    package var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Whether the last failure was SQLite refusing, on a read-only connection, to read a
    /// database whose hot journal (left by a writer that crashed mid-transaction) must first be
    /// rolled back (SQLITE_READONLY_ROLLBACK).
    package var lastErrorIsHotJournal: Bool { sqlite3_extended_errcode(handle) == lb_SQLITE_READONLY_ROLLBACK }

    package func error(_ what: String) -> LifeboatError {
        LifeboatError(.database, "\(what) on \(path): \(errorMessage)")
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw LifeboatError(.database, "SQLite error on \(path): \(msg)")
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw error("cannot prepare statement")
        }
        return SQLiteStatement(connection: self, handle: stmt)
    }

    /// Convenience: all rows of a query as arrays of optional strings (for verification queries).
    public func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        let stmt = try prepare(sql)
        try stmt.bind(bindings)
        var rows: [[SQLiteValue]] = []
        while try stmt.step() {
            rows.append((0..<stmt.columnCount).map { stmt.value($0) })
        }
        return rows
    }

    /// First column of the first row, or nil.
    public func scalar(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> SQLiteValue? {
        try query(sql, bindings).first?.first
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Result of PRAGMA integrity_check: "ok" or the list of problems.
    public func integrityCheck() throws -> [String] {
        try query("PRAGMA integrity_check").compactMap { $0.first?.text }
    }
}

public enum SQLiteValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var text: String? {
        switch self {
        case .text(let s): return s
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .null, .blob: return nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let i): return i
        case .real(let d): return Int64(d)
        case .text(let s): return Int64(s)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .text(let s): return s
        case .blob(let b): return "<blob \(b.count) bytes>"
        }
    }
}

public final class SQLiteStatement {
    package let connection: SQLiteConnection
    package let handle: OpaquePointer

    package init(connection: SQLiteConnection, handle: OpaquePointer) {
        self.connection = connection
        self.handle = handle
    }

    deinit { sqlite3_finalize(handle) }

    public func bind(_ values: [SQLiteValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(handle, idx)
            case .integer(let n): rc = sqlite3_bind_int64(handle, idx, n)
            case .real(let d): rc = sqlite3_bind_double(handle, idx, d)
            case .text(let s): rc = lb_sqlite3_bind_text_transient(handle, idx, s, -1)
            case .blob(let b): rc = b.withUnsafeBytes { lb_sqlite3_bind_blob_transient(handle, idx, $0.baseAddress, Int32($0.count)) }
            }
            if rc != SQLITE_OK { throw connection.error("cannot bind parameter \(idx)") }
        }
    }

    /// Advances; true when a row is available.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error("statement failed")
    }

    /// Binds, runs to completion and resets (for INSERT/UPDATE in loops).
    public func run(_ values: [SQLiteValue]) throws {
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    public func reset() { sqlite3_reset(handle) }

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func value(_ column: Int) -> SQLiteValue {
        let c = Int32(column)
        switch sqlite3_column_type(handle, c) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, c))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, c))
        case SQLITE_TEXT:
            guard let p = sqlite3_column_text(handle, c) else { return .null }
            return .text(String(cString: p))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(handle, c))
            guard n > 0, let p = sqlite3_column_blob(handle, c) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .null
        }
    }

    public func int64(_ column: Int) -> Int64 { sqlite3_column_int64(handle, Int32(column)) }
}
