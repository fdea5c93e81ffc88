import LifeboatCore

/// Tables of the write load and the checks a restored copy is put through.
package enum WriteLoadSchema {
    package static let create = """
        CREATE TABLE IF NOT EXISTS lifeboat_markers (
            seq INTEGER PRIMARY KEY, committed_at_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS lifeboat_marker_log (
            seq INTEGER PRIMARY KEY, committed_at_ms INTEGER NOT NULL, checksum INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS lifeboat_marker_state (
            id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL, last_committed_at_ms INTEGER NOT NULL);
        """

    /// Ties a log row to its marker, so a log row from another transaction does not pass.
    package static func checksum(seq: Int64, at time: Int64) -> Int64 {
        (seq &* 1_000_003) ^ time
    }

    package static func maxRequestID(_ db: SQLiteConnection) throws -> Int64 {
        let hasRequests = try db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'requests'")?.integer == 1
        return hasRequests ? (try db.scalar("SELECT coalesce(max(id), 0) FROM requests")?.integer ?? 0) : 0
    }

    package static func inspect(_ db: SQLiteConnection) throws -> MarkerSummary {
        let tables = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'lifeboat_marker%'")
            .compactMap { $0.first?.text }
        guard Set(tables).isSuperset(of: ["lifeboat_markers", "lifeboat_marker_log", "lifeboat_marker_state"]) else {
            throw LifeboatError(.notFound, "\(db.path) has no write-load markers (tables lifeboat_markers, lifeboat_marker_log, lifeboat_marker_state)")
        }
        let row = try db.query("SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM lifeboat_markers").first ?? []
        let count = Int(row.first?.integer ?? 0)
        let first = row.count > 1 ? row[1].integer ?? 0 : 0
        let last = row.count > 2 ? row[2].integer ?? 0 : 0
        let lastAt = try db.scalar("SELECT committed_at_ms FROM lifeboat_markers WHERE seq = ?", [.integer(last)])?.integer ?? 0

        // A marker without its log row (or the reverse, or a wrong checksum) means a transaction
        // was only partly restored; so does a state row that does not name the newest marker.
        var torn = Int(try db.scalar("""
            SELECT count(*) FROM lifeboat_markers m LEFT JOIN lifeboat_marker_log l ON l.seq = m.seq
            WHERE l.seq IS NULL OR l.committed_at_ms != m.committed_at_ms
            """)?.integer ?? 0)
        torn += Int(try db.scalar("""
            SELECT count(*) FROM lifeboat_marker_log l LEFT JOIN lifeboat_markers m ON m.seq = l.seq WHERE m.seq IS NULL
            """)?.integer ?? 0)
        let checksums = try db.prepare("SELECT seq, committed_at_ms, checksum FROM lifeboat_marker_log")
        while try checksums.step() {
            if checksum(seq: checksums.int64(0), at: checksums.int64(1)) != checksums.int64(2) { torn += 1 }
        }
        let state = try db.query("SELECT last_seq, last_committed_at_ms FROM lifeboat_marker_state WHERE id = 1").first
        if count > 0 {
            if state?.first?.integer != last || (state?.count ?? 0) < 2 || state?[1].integer != lastAt { torn += 1 }
        } else if state != nil {
            torn += 1
        }
        return MarkerSummary(count: count, firstSeq: first, lastSeq: last, lastCommittedAtMs: lastAt,
                             gaps: count > 0 ? Int(last - first + 1) - count : 0, tornTransactions: torn)
    }
}
