import Foundation
import LifeboatCore

/// Changes a given percentage of a process database's rows the way a workflow engine does
/// between two backups: requests scattered across the whole history advance (status,
/// updated_at, a field of their JSON, their current task completed, a follow-up task or a
/// comment added), and new requests are started at the end. Deterministic from a seed.
public struct ProcessDatabaseMutator: Sendable {
    public struct Summary: Sendable, Codable, Equatable {
        /// Rows in requests, tasks, comments and attachments before the change.
        public var rowsBefore: Int
        public var rowsUpdated: Int
        public var rowsInserted: Int
        public var requestsAdvanced: Int
        public var requestsCreated: Int
        public var seconds: Double
        public var rowsChanged: Int { rowsUpdated + rowsInserted }
    }

    /// Share of advanced requests taken from the running (newest) tenth; the rest are scattered.
    package static let recentShare = 0.7

    /// Percentage of existing rows to update or insert (1 means 1 %).
    public let percent: Double
    public let seed: UInt64

    public init(percent: Double, seed: UInt64 = 1) {
        self.percent = percent
        self.seed = seed
    }

    @discardableResult
    public func mutate(at path: String) throws -> Summary {
        guard percent > 0, percent <= 100 else {
            throw LifeboatError(.usage, "percent must be more than 0 and at most 100 (got \(percent))")
        }
        guard FileIO.fileExists(path) else {
            throw LifeboatError(.notFound, "\(path) does not exist; generate it first with 'lifeboat demo generate'")
        }
        let started = Date()
        let db = try SQLiteConnection(path: path, mode: .readWrite)
        guard try db.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'requests' AND type = 'table'")?.integer == 1 else {
            throw LifeboatError(.database, "\(path) is not a process database (no requests table)")
        }
        let rowsBefore = try ["requests", "tasks", "comments", "attachments"].reduce(0) {
            $0 + Int(try db.scalar("SELECT count(*) FROM \($1)")?.integer ?? 0)
        }
        let maxID = try db.scalar("SELECT max(id) FROM requests")?.integer ?? 0
        guard maxID > 0 else { throw LifeboatError(.database, "\(path) has no requests to change") }
        var now = (try db.scalar("SELECT max(updated_at) FROM requests")?.integer ?? ProcessSchema.epochMilliseconds) + 60_000

        let budget = Int((Double(rowsBefore) * percent / 100).rounded(.up))
        var summary = Summary(rowsBefore: rowsBefore, rowsUpdated: 0, rowsInserted: 0, requestsAdvanced: 0, requestsCreated: 0, seconds: 0)
        var rng = SeededGenerator(seed: seed ^ 0x6D75_7461_7465) // differs from the generator's stream for the same seed

        let advanceRequest = try db.prepare("""
            UPDATE requests SET status = ?, updated_at = ?, data = json_set(data, '$.last_action', json(?)) WHERE id = ?
            """)
        let completeTask = try db.prepare("""
            UPDATE tasks SET state = 'completed', completed_at = ?, outcome = ?, assignee = coalesce(assignee, ?)
            WHERE id = (SELECT max(id) FROM tasks WHERE request_id = ?)
            """)
        let lastTask = try db.prepare("SELECT id, name, candidate_group FROM tasks WHERE request_id = ? ORDER BY id DESC LIMIT 1")
        let followUp = try db.prepare(ProcessSchema.insertTask)
        let writer = try ProcessRowWriter(db: db)
        var inserted = ProcessRowWriter.Counts()
        var nextID = maxID

        try db.execute("BEGIN IMMEDIATE")
        do {
            while summary.rowsUpdated + summary.rowsInserted + inserted.rows < budget {
                now += Int64(rng.between(100...5_000))
                if rng.chance(0.85) {
                    // Most activity is on running requests (the newest tenth of the history), but
                    // closed ones anywhere in the file get reopened, corrected or archived too.
                    let recent = max(1, Int(maxID) / 10)
                    let id = rng.chance(Self.recentShare) ? maxID - Int64(rng.below(recent))
                                                          : Int64(1 + rng.below(Int(maxID)))
                    let status = rng.chance(0.6) ? ProcessContent.closedStatuses[rng.below(ProcessContent.closedStatuses.count)]
                                                 : ProcessContent.openStatuses[rng.below(ProcessContent.openStatuses.count)]
                    let actor = writer.content.user(&rng)
                    let action = "{\"by\":\"\(actor)\",\"at\":\(now),\"status\":\"\(status)\"}"
                    try advanceRequest.run([.text(status), .integer(now), .text(action), .integer(id)])
                    guard db.changes == 1 else { continue }
                    summary.rowsUpdated += 1
                    summary.requestsAdvanced += 1
                    let outcome = ProcessContent.outcomes[rng.below(ProcessContent.outcomes.count)]
                    try completeTask.run([.integer(now), .text(outcome), .text(actor), .integer(id)])
                    summary.rowsUpdated += db.changes
                    if rng.chance(0.5) {
                        try lastTask.bind([.integer(id)])
                        if try lastTask.step() {
                            let name = lastTask.value(1).text ?? "Follow up"
                            let group = lastTask.value(2).text ?? "operations"
                            lastTask.rewind()
                            try followUp.run([.integer(id), .text("\(name) (again)"), .text(group), .null, .text("open"),
                                              .integer(now), .integer(now + 3 * 86_400_000), .null, .null])
                            summary.rowsInserted += 1
                        } else {
                            lastTask.rewind()
                        }
                    }
                    if rng.chance(0.5) {
                        try writer.insertComment(requestID: id, taskID: nil, at: now, counts: &inserted, &rng)
                    }
                } else {
                    nextID += 1
                    try writer.insertFullRequest(id: nextID, createdAt: now, isOpen: true, marker: nil, counts: &inserted, &rng)
                    summary.requestsCreated += 1
                }
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        summary.rowsInserted += inserted.rows
        // Put the change into the main file, so a file-level tool (restic) and a page diff see it.
        _ = try db.query("PRAGMA wal_checkpoint(TRUNCATE)")
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}
