import CSQLite

/// Allocation-free binding for hot loops (the workload generator inserts millions of rows):
/// `bind(_ values: [SQLiteValue])` builds an array and Strings per row, which costs more than
/// SQLite's own insert.
extension SQLiteStatement {
    /// Resets the statement so it can be bound again (bindings are kept until overwritten).
    public func rewind() {
        sqlite3_reset(handle)
    }

    public func bind(_ index: Int32, int64 value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value), index)
    }

    public func bind(_ index: Int32, double value: Double) throws {
        try check(sqlite3_bind_double(handle, index, value), index)
    }

    public func bindNull(_ index: Int32) throws {
        try check(sqlite3_bind_null(handle, index), index)
    }

    /// Binds UTF-8 bytes as TEXT (SQLite copies them).
    public func bind(_ index: Int32, utf8 bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                    lb_sqlite3_bind_text_transient(handle, index, $0, Int32(buf.count))
                }
            } ?? lb_sqlite3_bind_text_transient(handle, index, "", 0)
        }
        try check(rc, index)
    }

    public func bind(_ index: Int32, text: String) throws {
        var text = text
        let rc = text.withUTF8 { buf in
            buf.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                    lb_sqlite3_bind_text_transient(handle, index, $0, Int32(buf.count))
                }
            } ?? lb_sqlite3_bind_text_transient(handle, index, "", 0)
        }
        try check(rc, index)
    }

    /// Binds bytes as a BLOB (SQLite copies them).
    public func bind(_ index: Int32, blob bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { lb_sqlite3_bind_blob_transient(handle, index, $0.baseAddress, Int32($0.count)) }
        try check(rc, index)
    }

    /// Runs a bound INSERT/UPDATE to completion and resets it.
    public func execute() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    private func check(_ rc: Int32, _ index: Int32) throws {
        if rc != SQLITE_OK { throw connection.error("cannot bind parameter \(index)") }
    }
}
