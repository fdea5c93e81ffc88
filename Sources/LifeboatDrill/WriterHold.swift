import Foundation
import LifeboatCore

/// Holds the drill database's write lock from before a snapshot until its capture has begun,
/// and hashes the tables meanwhile: no transaction commits in between, so the hashes are of
/// exactly the state the snapshot holds. Writers wait a few milliseconds; only ever used on the
/// drill's own database, never on a live one.
package final class WriterHold: Sendable {
    private let held = DispatchSemaphore(value: 0)
    private let releaseSignal = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let released = Locked(false)
    private let outcome = Locked<Result<[DrillTableDigest], Error>?>(nil)

    /// Returns once the lock is held and the tables are hashed (or that failed).
    package init(_ path: String) throws {
        // SQLite connections are not Sendable: the lock's connection lives on a thread of its own.
        let thread = Thread { [held, releaseSignal, done, outcome] in
            do {
                let db = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 30_000)
                try db.execute("BEGIN IMMEDIATE")
                outcome.withLock { $0 = Result { try DrillTables.digest(db) } }
                held.signal()
                releaseSignal.wait()
                try? db.execute("ROLLBACK")
            } catch {
                outcome.withLock { $0 = .failure(error) }
                held.signal()
            }
            done.signal()
        }
        thread.name = "lifeboat-drill-writer-hold"
        thread.start()
        held.wait()
        if case .failure(let e) = outcome.current {
            release()
            throw e
        }
    }

    package var tables: [DrillTableDigest]? { try? outcome.current?.get() }

    /// Lets writers go on; waits until the lock is given up. Safe to call more than once.
    package func release() {
        let first = released.withLock { was -> Bool in defer { was = true }; return !was }
        guard first else { return }
        releaseSignal.signal()
        done.wait()
    }
}
