import LifeboatCore

/// A rollback journal left "hot" by a writer that crashed in the middle of a transaction: the
/// database file may hold half of that transaction until SQLite rolls the journal back, which
/// takes write access. A snapshot only reads (it must never change the live database), so
/// SQLite refuses it with "attempt to write a readonly database"; this says what happened and
/// what to do instead.
enum HotJournal {
    static func error(_ path: String) -> LifeboatError {
        LifeboatError(.database, "\(path) has a hot journal (\(path)-journal): a writer crashed in the middle of a transaction, and SQLite must roll it back before the database can be read consistently, which a snapshot (read-only) never does; open the database once with its application, or with any SQLite client that may write it (e.g. sqlite3 \(path) 'SELECT count(*) FROM sqlite_master'), so SQLite rolls the journal back, then run the snapshot again")
    }
}
