import Foundation

/// PRAGMA integrity_check on every core. A full integrity_check is one single-threaded pass
/// (over 2 s for 1 GiB), so it is split into checks that together cover the same ground, run
/// on their own connections at once:
/// - `PRAGMA quick_check`: the b-tree structure of every table and index, the freelist, and
///   that every page is used exactly once (what only a whole-file check can see);
/// - `PRAGMA integrity_check(TABLE)` for each table: that table and its indexes, including
///   what quick_check skips (index content matching the table, UNIQUE constraints).
/// The database is "ok" only when every part says so.
public enum IntegrityCheck {
    /// Problems found ("ok" alone when none), from all parts, in a stable order.
    public static func run(path: String, workers: Int = Parallel.workerCount) throws -> [String] {
        if workers <= 1 { return try SQLiteConnection(path: path, immutable: true).integrityCheck() }
        let db = try SQLiteConnection(path: path, immutable: true)
        let tables: [String] = try db
            .query("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY rootpage")
            .compactMap { $0.first?.text }
        // The table name as an SQL string literal.
        func literal(_ name: String) -> String { "'" + name.replacingOccurrences(of: "'", with: "''") + "'" }
        // Largest first, so the longest check starts at once and the others fill the other
        // cores: a table's cost is about its rows times (1 + its indexes); max(rowid) is a cheap
        // estimate of the rows (0 for tables without rowid).
        let weighted = tables.map { t -> (String, Int64) in
            let rows = (try? db.scalar("SELECT max(rowid) FROM \"\(t.replacingOccurrences(of: "\"", with: "\"\""))\""))??.integer ?? 0
            let indexes = (try? db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = \(literal(t))"))??.integer ?? 0
            return (t, rows * (1 + indexes))
        }.sorted { $0.1 > $1.1 }
        var order = weighted.map { "PRAGMA integrity_check(\(literal($0.0)))" }
        // quick_check (the whole file) right after the largest table.
        order.insert("PRAGMA quick_check", at: min(1, order.count))
        let pragmas = order
        let results = Locked([[String]](repeating: [], count: pragmas.count))
        try Parallel.forEach(count: pragmas.count, workers: workers) { _, i in
            let lines = try SQLiteConnection(path: path, immutable: true).query(pragmas[i]).compactMap { $0.first?.text }
            results.withLock { $0[i] = lines }
        }
        let problems = results.current.flatMap { $0 }.filter { $0 != "ok" }
        return problems.isEmpty ? ["ok"] : problems
    }
}
