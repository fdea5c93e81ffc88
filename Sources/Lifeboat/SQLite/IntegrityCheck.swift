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
        let tables: [String] = try SQLiteConnection(path: path, immutable: true)
            .query("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY rootpage")
            .compactMap { $0.first?.text }
        // The table name as an SQL string literal.
        let pragmas = ["PRAGMA quick_check"] + tables.map { "PRAGMA integrity_check('\($0.replacingOccurrences(of: "'", with: "''"))')" }
        let results = Locked([[String]](repeating: [], count: pragmas.count))
        try Parallel.forEach(count: pragmas.count, workers: workers) { _, i in
            let lines = try SQLiteConnection(path: path, immutable: true).query(pragmas[i]).compactMap { $0.first?.text }
            results.withLock { $0[i] = lines }
        }
        let problems = results.current.flatMap { $0 }.filter { $0 != "ok" }
        return problems.isEmpty ? ["ok"] : problems
    }
}
