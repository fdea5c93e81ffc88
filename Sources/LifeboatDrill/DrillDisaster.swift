import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The disaster step: record what was committed just before, do the damage (to the drill's own
/// copies only), and declare the disaster, which starts the RTO clock.
extension DrillRunner {
    /// What one kind of damage did, and when it was done.
    package struct Damage {
        package var details: [String]
        package var struckAtMs: Int64
        /// The last transaction committed before the damage, when the damage itself read it.
        package var lastCommitted: (seq: Int64, ms: Int64)?
    }

    package func strike(_ d: Scenario.Disaster, setup: DrillSetup, _ background: inout DrillBackground) throws -> DrillDisasterResult {
        let start = now
        var details: [String] = []
        say("disaster: \(d.kind.summary)")
        func note(_ lines: [String]) {
            details += lines
            for line in lines { say("  \(line)") }
        }

        // The write load runs through the disaster (its commits after the damage are lost too).
        // Every disaster but a mistaken statement cuts off the backups at once: a snapshot or a
        // replica copy still in flight is lost, as it would be when the host goes down.
        var lastCommitted: (seq: Int64, ms: Int64)?
        var statementAfterSeq: Int64?
        let before = try recordBeforeDisaster(setup.databasePath)
        if d.kind != .destructiveStatement {
            if let offset = d.strikeOffset {
                guard background.schedule != nil else {
                    throw LifeboatError(.usage, "\(scenario.file): strike points need a snapshot_schedule step before the disaster")
                }
                guard cutOff.strikeAfterNextSnapshotStart(offset: offset, timeout: 120, cancelled: { cancelled.current }) else {
                    try checkCancelled()
                    throw LifeboatError(.incomplete, "no snapshot started within 120 s to time the strike from; shorten the snapshot_schedule interval in \(scenario.file)")
                }
                note(["struck \(DrillFormat.seconds(offset)) after a scheduled snapshot began (one point of the snapshot cycle)"])
            } else if d.duringSnapshot {
                guard background.schedule != nil else {
                    throw LifeboatError(.usage, "\(scenario.file): 'strike: during-snapshot' needs a snapshot_schedule step before the disaster")
                }
                guard cutOff.strikeDuringSnapshot(timeout: 120, cancelled: { cancelled.current }) else {
                    try checkCancelled()
                    throw LifeboatError(.incomplete, "no snapshot started within 120 s to strike during; shorten the snapshot_schedule interval in \(scenario.file)")
                }
                note(["struck while a snapshot was running: it cannot commit and does not count"])
            } else {
                cutOff.strike()
            }
            try cutOffReplication(background)
            if let last = background.load?.committed.last { lastCommitted = (last.seq, last.ms) }
        }

        let path = setup.databasePath
        let owned = scenario.source.isDrillOwned
        let struckAt = now
        var struckAtMs: Int64?
        var repositoryStates: [String: String] = [:]
        func damage(_ done: Damage) {
            note(done.details)
            struckAtMs = struckAtMs ?? done.struckAtMs
        }
        func lose(_ name: String?, ransomware: Bool) throws {
            let loss = try loseRepository(name, setup.repositories, ransomware: ransomware)
            note([loss.detail])
            repositoryStates[loss.repository] = loss.state
        }
        switch d.kind {
        case .deleteDatabase:
            if owned { damage(try deleteDatabaseFiles(path)) } else {
                note(["simulated: the live database \(path) was not touched; the drill recovers as if it were gone"])
            }
        case .corruptPages:
            damage(try corruptPages(path, count: d.pages, seed: d.seed))
        case .destructiveStatement:
            let done = try runStatement(path, d.statement ?? "")
            damage(done)
            if let committed = done.lastCommitted { lastCommitted = committed }
            statementAfterSeq = done.lastCommitted?.seq ?? 0
            if d.noticedAfter > 0 {
                say("the mistake goes unnoticed for \(DrillFormat.seconds(d.noticedAfter)); load and \(scenario.replication == nil ? "snapshots" : "replication") go on")
                try sleep(d.noticedAfter)
            }
            // Noticed: the operator stops the backups, which would otherwise keep storing the damage.
            cutOff.strike()
            try cutOffReplication(background)
        case .repositoryLost:
            if owned { damage(try deleteDatabaseFiles(path)) } else { note(["simulated: the live database \(path) was not touched"]) }
            try lose(d.repository, ransomware: false)
        case .ransomware:
            if owned { damage(try encryptDatabase(path, seed: d.seed)) } else { note(["simulated: the live database was not touched"]) }
            try lose(d.repository, ransomware: true)
        }
        let struck = struckAtMs ?? Clock.wallMilliseconds()
        let declaredAt = now
        // What the application saw committed when the disaster was declared: the work RPO counts.
        // The load stops here, as the platform would be stopped for the recovery.
        stopWorkload(&background)
        if let after = statementAfterSeq, let last = background.committed?.last, last.seq > after {
            note(["\(last.seq - after) transactions were committed after the statement, before it was noticed"])
        }
        event("disaster: \(d.kind.rawValue)", "disaster", from: start)
        say("disaster declared: RTO clock started")
        try stopSchedule(&background)
        note(endReplication(&background, setup: setup, struckAtMs: cutOff.struckAtMs ?? struck))
        if let e = background.loadError { note(["the write load stopped on an error (expected when the damage hits the file under it): \(e)"]) }
        let cut = cutOff.cutOffSnapshots
        if cut > 0 { note(["\(cut) snapshot\(cut == 1 ? "" : "s") in flight at the strike cut off before \(cut == 1 ? "its" : "their") commit (not counted)"]) }
        let record = DrillReport.DisasterRecord(kind: d.kind.rawValue, description: d.kind.summary,
                                                struckAt: RFC3339.format(Date(unixMilliseconds: struck), fractional: true),
                                                declaredAt: RFC3339.format(Date(), fractional: true), details: details)
        return DrillDisasterResult(record: record, struckAtMs: struck, struckAt: struckAt, declaredAt: declaredAt, stoppedAt: now, lastCommitted: lastCommitted,
                                   statementAfterSeq: statementAfterSeq, cutOffSnapshots: cut,
                                   beforeDisasterValues: before.values, liveNewestMs: before.liveNewestMs, repositoryStates: repositoryStates)
    }

    /// Results of `expect: before-disaster` queries, and the live newest-transaction time.
    package func recordBeforeDisaster(_ databasePath: String) throws -> (values: [Int: SQLiteValue], liveNewestMs: Int64?) {
        let queries = scenario.steps.flatMap { entry -> [Scenario.Query] in
            if case .verify(let v) = entry.step { return v.queries }
            return []
        }
        let needed = queries.enumerated().filter { if case .beforeDisaster = $0.element.expect { return true }; return false }
        guard !needed.isEmpty || scenario.source.rpoQuery != nil else { return ([:], nil) }
        let db = try SQLiteConnection(path: databasePath, mode: .readOnly)
        var values: [Int: SQLiteValue] = [:]
        for (k, q) in needed {
            do { values[k] = try db.query(q.sql).first?.first ?? .null } catch let e as LifeboatError {
                throw LifeboatError(.usage, "\(scenario.file) line \(q.line): query '\(q.name)' fails on the database before the disaster: \(e.message)")
            }
        }
        return (values, try scenario.source.rpoQuery.flatMap { try newestTransactionMs(db, $0) })
    }

    package func newestTransactionMs(_ db: SQLiteConnection, _ sql: String) throws -> Int64? {
        let v: SQLiteValue
        do { v = try db.query(sql).first?.first ?? .null } catch let e as LifeboatError {
            throw LifeboatError(.usage, "\(scenario.file): rpo_query fails on \(db.path): \(e.message)")
        }
        let unit: Double = scenario.source.rpoUnitMilliseconds ? 1 : 1000
        switch v {
        case .integer(let n): return Int64(Double(n) * unit)
        case .real(let d): return Int64(d * unit)
        case .text(let s):
            if let d = RFC3339.parse(s) ?? RFC3339.parse(s.replacingOccurrences(of: " ", with: "T") + "Z") { return d.unixMilliseconds }
            if let n = Double(s) { return Int64(n * unit) }
            throw LifeboatError(.usage, "\(scenario.file): rpo_query must return a number or a UTC date, not text")
        default: return nil
        }
    }

    package func deleteDatabaseFiles(_ databasePath: String) throws -> Damage {
        var removed: [String] = []
        for suffix in ["", "-wal", "-shm", "-journal"] where FileIO.fileExists(databasePath + suffix) {
            if unlink(databasePath + suffix) != 0 { throw LifeboatError.posix(errno, "cannot delete", path: databasePath + suffix) }
            removed.append((databasePath as NSString).lastPathComponent + suffix)
        }
        return Damage(details: ["deleted \(removed.joined(separator: ", ")) from the drill's copy"], struckAtMs: Clock.wallMilliseconds())
    }

    /// Overwrites pages of the main file (after a checkpoint, so the WAL cannot mask them),
    /// then asks SQLite whether it notices: a drill also shows whether damage is detected.
    package func corruptPages(_ databasePath: String, count: Int, seed: UInt64) throws -> Damage {
        // The load goes on writing, so the checkpoint may not empty the WAL; the damage to the
        // main file stands either way.
        try? SQLiteConnection(path: databasePath, busyTimeoutMilliseconds: 5_000).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        guard let size = try FileIO.status(databasePath)?.size, size >= 8192 else {
            throw LifeboatError(.database, "the drill database is too small to corrupt")
        }
        let pageSize = 4096, pages = size / pageSize
        var rng = SeededGenerator(seed: seed)
        var chosen = Set<Int>()
        // Page 1 holds the header and schema; damage there is the easy case. Hit the data.
        while chosen.count < min(count, pages - 1) { chosen.insert(1 + rng.below(pages - 1)) }
        let fd = open(databasePath, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open", path: databasePath) }
        defer { close(fd) }
        var garbage = [UInt8](repeating: 0, count: pageSize)
        for p in chosen.sorted() {
            for i in 0..<pageSize { garbage[i] = UInt8(truncatingIfNeeded: rng.next()) }
            try garbage.withUnsafeBytes { try FileIO.pwriteAll(fd: fd, $0, offset: p * pageSize, path: databasePath) }
        }
        fsync(fd)
        let struckAtMs = Clock.wallMilliseconds()
        var out = ["overwrote \(chosen.count) of \(pages) pages with random bytes (pages \(chosen.sorted().prefix(12).map { String($0 + 1) }.joined(separator: ", "))\(chosen.count > 12 ? ", …" : ""))"]
        do {
            let problems = try SQLiteConnection(path: databasePath, mode: .readOnly).integrityCheck()
            out.append(problems == ["ok"]
                ? "PRAGMA integrity_check on the damaged file still says ok: this damage is silent"
                : "PRAGMA integrity_check on the damaged file reports \(problems.count) problem(s): the damage is detected")
            if problems == ["ok"] { recorder.finding("Corrupting \(chosen.count) pages went unnoticed by PRAGMA integrity_check; only a restore compared with known data shows such damage.") }
        } catch {
            out.append("SQLite refuses the damaged file: the damage is detected")
        }
        return Damage(details: out, struckAtMs: struckAtMs)
    }

    /// Runs the mistaken statement in its own transaction, reading the newest committed marker
    /// inside it: exactly the last transaction before the disaster, even while the load runs.
    package func runStatement(_ databasePath: String, _ sql: String) throws -> Damage {
        let db = try SQLiteConnection(path: databasePath, busyTimeoutMilliseconds: 30_000)
        try db.execute("BEGIN IMMEDIATE")
        do {
            var lastCommitted: (seq: Int64, ms: Int64)?
            if try db.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'lifeboat_markers'")?.integer == 1,
               let row = try db.query("SELECT seq, committed_at_ms FROM lifeboat_markers ORDER BY seq DESC LIMIT 1").first,
               let seq = row.first?.integer, row.count > 1, let ms = row[1].integer {
                lastCommitted = (seq, ms)
            }
            try db.execute(sql)
            let changed = db.changes
            let struckAtMs = Clock.wallMilliseconds()
            try db.execute("COMMIT")
            return Damage(details: ["ran \(sql.split(separator: "\n").joined(separator: " ")) (\(changed) row\(changed == 1 ? "" : "s") changed) and committed it at \(RFC3339.format(Date(unixMilliseconds: struckAtMs), fractional: true))"],
                          struckAtMs: struckAtMs, lastCommitted: lastCommitted)
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Ransomware: the file is replaced by bytes that look like ciphertext, same size.
    package func encryptDatabase(_ databasePath: String, seed: UInt64) throws -> Damage {
        try? SQLiteConnection(path: databasePath).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let size = try FileIO.status(databasePath)?.size ?? 0
        var rng = SeededGenerator(seed: seed ^ 0x5EED)
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let fd = open(databasePath, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open", path: databasePath) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, bytes, path: databasePath)
        fsync(fd)
        for suffix in ["-wal", "-shm"] { unlink(databasePath + suffix) }
        return Damage(details: ["overwrote the drill's copy of the database (\(Units.formatBytes(size))) with random bytes, as ransomware encrypting it would"],
                      struckAtMs: Clock.wallMilliseconds())
    }

    /// Loses a repository: a scratch one is really destroyed; an existing one is only made
    /// unreachable to the drill (nothing is deleted from backups that protect real data).
    /// Returns what was done, the repository's name and the state it was left in.
    package func loseRepository(_ name: String?, _ repositories: [DrillRepository], ransomware: Bool) throws -> (detail: String, repository: String, state: String) {
        guard let r = repositories.first(where: { $0.spec.name == (name ?? scenario.repositories.first?.name) }) else {
            throw LifeboatError(.usage, "\(scenario.file): the disaster names no repository")
        }
        let name = r.spec.name
        if let dir = r.directory {
            if ransomware {
                let n = try r.backend.deleteEverything()
                recorder.finding("Ransomware could delete repository '\(name)' because the host held delete rights. Run backups with write-only credentials (no DELETE; see least privilege) and keep an immutable or offline replica.")
                return ("deleted all \(n) objects of scratch repository '\(name)' through the storage API, as an attacker with the backup host's credentials would",
                        name, "all \(n) objects deleted (ransomware, scratch repository)")
            }
            try FileManager.default.removeItem(atPath: dir)
            return ("destroyed scratch repository '\(name)' (the whole directory)", name, "destroyed (scratch repository deleted from disk)")
        }
        r.backend.markLost()
        recorder.finding("Repository '\(name)' was lost by simulation only: the drill stopped using it and deleted nothing, so its own failure modes were not exercised.")
        return ("simulated the loss of existing repository '\(name)' (\(r.backend.location)): the drill no longer reaches it; nothing was deleted",
                name, "unreachable (simulated; nothing was deleted)")
    }
}
