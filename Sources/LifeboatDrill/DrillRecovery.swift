import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The restore and verify steps: what an operator would do after the disaster, timed phase by phase.
extension DrillRunner {
    /// Tries the repositories in order (or only `from`) until one restores; each failure is
    /// recorded with its reason and its time counts in the RTO, as it would in a real incident.
    package func recover(_ step: Scenario.Restore, setup: DrillSetup, struckAtMs: Int64) -> DrillRecoveryResult {
        var recovery = DrillRecoveryResult()
        let order = step.from.map { [$0] } ?? scenario.repositories.map(\.name)
        let target = scratch + "/restored/" + scenario.source.name
        for name in order {
            guard let r = setup.repositories.first(where: { $0.spec.name == name }) else { continue }
            let start = now
            say("restore from '\(name)' (\(r.spec.isScratch ? "scratch repository" : r.backend.location))")
            var phases: [DrillReport.Phase] = []
            var mark = start
            func phase(_ label: String, _ category: String = "recovery") {
                let t = now
                phases.append(.init(name: label, seconds: t - mark))
                event(label, category, from: mark, to: t)
                mark = t
            }
            do {
                let passphrase: SecretBytes
                if r.spec.isScratch, let p = setup.scratchPassphrase {
                    passphrase = p
                } else {
                    passphrase = try PassphraseSource.fromEnvironment(prefix: r.spec.passwordPrefix, purpose: "passphrase for repository '\(name)'")
                }
                let repository = try Repository.open(backend: r.backend, passphrase: passphrase)
                phase(Self.keyDerivationPhase)
                if scenario.replication != nil {
                    // A state, not a snapshot: the base snapshot and the shipped transactions after it.
                    let replayed = try restoreReplicated(step.snapshot, repository: repository, to: target, struckAtMs: struckAtMs, from: mark, into: &phases)
                    recovery.workers = replayed.workers
                    mark = now
                    let production = try swapIntoProduction(target, setup: setup)
                    phase("swap into the production path")
                    try healthQuery(production)
                    phase("application health query")
                    let result = replayed.result, record = replayed.record
                    recovery.attempts.append(.init(repository: name, ok: true, snapshot: record.id, snapshotTime: RFC3339.format(record.manifest.time, fractional: true),
                                                   seconds: now - start, error: nil, stateTime: result.stateTime ?? RFC3339.format(record.manifest.time, fractional: true),
                                                   replayedTransactions: result.replayedTransactions))
                    recovery.restored = .init(path: production, result: result, repository: name,
                                              snapshotTimeMs: result.stateTime.flatMap { RFC3339.parse($0)?.unixMilliseconds } ?? record.manifest.timeMs,
                                              repositoryID: repository.config.id, imageDigest: record.manifest.imageDigest)
                    recovery.phases += phases
                    say("restored the state of \(result.stateTime ?? RFC3339.format(record.manifest.time, fractional: true)) from '\(name)': snapshot \(record.shortID) and \(result.replayedTransactions) shipped transactions from \(result.replayedSegments) segments replayed, \(result.pages) pages, integrity_check ok, \(DrillFormat.seconds(now - start))")
                    return recovery
                }
                let record: SnapshotRecord
                switch step.snapshot {
                case .latest:
                    record = try repository.findSnapshot("latest", source: scenario.source.name)
                case .beforeDisaster:
                    record = try repository.findSnapshot(at: Date(unixMilliseconds: struckAtMs - 1), source: scenario.source.name)
                case .id(let id):
                    record = try repository.findSnapshot(id, source: scenario.source.name)
                }
                phase("find snapshot")
                var options = Restorer.Options()
                options.force = true
                let restorer = Restorer(repository: repository, options: options)
                recovery.workers = restorer.workers
                let result = try restorer.restore(record, to: target)
                appendRestorePhases(result, from: mark, into: &phases)
                mark = now
                let production = try swapIntoProduction(target, setup: setup)
                phase("swap into the production path")
                try healthQuery(production)
                phase("application health query")
                recovery.attempts.append(.init(repository: name, ok: true, snapshot: record.id, snapshotTime: RFC3339.format(record.manifest.time, fractional: true),
                                               seconds: now - start, error: nil))
                recovery.restored = .init(path: production, result: result, repository: name, snapshotTimeMs: record.manifest.timeMs,
                                           repositoryID: repository.config.id, imageDigest: record.manifest.imageDigest)
                recovery.phases += phases
                say("restored snapshot \(record.shortID) (taken \(RFC3339.format(record.manifest.time, fractional: true))) from '\(name)': \(result.pages) pages, integrity_check ok, \(DrillFormat.seconds(now - start))")
                return recovery
            } catch {
                let message = Self.message(error)
                recovery.attempts.append(.init(repository: name, ok: false, snapshot: nil, snapshotTime: nil, seconds: now - start, error: message))
                recovery.phases.append(.init(name: "failed attempt: \(name)", seconds: now - start))
                event("failed: \(name)", "failed", from: start)
                say("restore from '\(name)' failed: \(message)")
            }
        }
        say("recovery failed: no repository could restore the database")
        return recovery
    }

    /// Opening a repository is almost all passphrase key derivation (scrypt, by design slow):
    /// shown as such, so the restore's own time is not read as slow.
    package static let keyDerivationPhase = "open repository (passphrase key derivation)"

    /// Puts the restored file where the application expects it, as an operator would: the
    /// drill's own database path (its damaged files removed first), or, for a live database that
    /// is never written, a scratch stand-in for its path. Returns that path.
    package func swapIntoProduction(_ restored: String, setup: DrillSetup) throws -> String {
        var production = setup.databasePath
        if !scenario.source.isDrillOwned {
            let dir = scratch + "/production"
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw LifeboatError.posix(errno, "cannot create the drill's production stand-in", path: dir) }
            production = dir + "/" + scenario.source.name
        }
        for suffix in ["", "-wal", "-shm", "-journal"] where FileIO.fileExists(production + suffix) {
            if unlink(production + suffix) != 0 { throw LifeboatError.posix(errno, "cannot remove the damaged file", path: production + suffix) }
        }
        if rename(restored, production) != 0 { throw LifeboatError.posix(errno, "cannot move the restored database into place", path: production) }
        let dir = open((production as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
        return production
    }

    /// What the application does first when it comes back: open the database at its path
    /// (read-write, as it would) and read its schema. Fails the attempt when it cannot.
    package func healthQuery(_ path: String) throws {
        let db = try SQLiteConnection(path: path)
        guard let tables = try db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")?.integer, tables > 0 else {
            throw LifeboatError(.database, "the application health query found no tables in the database at its production path \(path)")
        }
    }

    /// The restorer's wall-clock phases on the timeline; fetch, decrypt+decompress and write run
    /// overlapped on worker threads, so their wall time is split by the worker time each took.
    package func appendRestorePhases(_ result: RestoreResult, from start: Double, into phases: inout [DrillReport.Phase]) {
        var t = start
        for (key, label) in [("locate", "locate (index, page table)"), ("fetch_decrypt_write", ""), ("replay", DrillRunner.replayPhase),
                             ("integrity_check", "integrity check"), ("rename", "rename into place")] {
            if key == "replay" && result.phases[key] == nil { continue }
            let wall = result.phases[key] ?? 0
            if key == "fetch_decrypt_write" {
                let parts = [("fetch", "fetch"), ("decrypt_decompress", "decrypt + decompress"), ("write", "write")]
                let total = parts.reduce(0.0) { $0 + (result.workerSeconds[$1.0] ?? 0) }
                for (k, l) in parts {
                    let share = total > 0 ? (result.workerSeconds[k] ?? 0) / total : 1.0 / 3
                    phases.append(.init(name: l, seconds: wall * share))
                    event(l, "recovery", from: t, to: t + wall * share)
                    t += wall * share
                }
            } else {
                phases.append(.init(name: label, seconds: wall))
                event(label, "recovery", from: t, to: t + wall)
                t += wall
            }
        }
    }

    /// Returns nil when nothing was restored.
    package func verify(_ v: Scenario.Verify, _ state: DrillState) throws -> DrillVerificationResult? {
        guard let restored = state.recovery.restored else {
            say("nothing to verify: the database was not restored")
            return nil
        }
        let start = now
        var verifications: [DrillReport.Verification] = []
        // PRAGMA integrity_check is not listed here: the restore runs it and fails the attempt
        // when it fails, so as a check of its own it could never fail.
        if v.markers ?? scenario.hasWorkload {
            let check = "drill marker rows: no gaps between committed transactions, none torn"
            do {
                let m = try markers(restored.path)
                verifications.append(.init(name: "Transactions whole", check: check, expected: "0 gaps, 0 torn",
                                           actual: "\(m.count) transactions, \(m.gaps) gaps, \(m.tornTransactions) torn", passed: m.isConsistent))
            } catch {
                verifications.append(.init(name: "Transactions whole", check: check, expected: "0 gaps, 0 torn",
                                           actual: "cannot read the markers: \(Self.message(error))", passed: false))
            }
        }
        let db = try SQLiteConnection(path: restored.path, immutable: true)
        if let expected = recorder.tables(snapshot: restored.result.snapshot) {
            let check = "each table's row count and content SHA-256 against the source's, taken inside the snapshot's own read transaction"
            do {
                let differences = DrillTables.differences(expected: expected, actual: try DrillTables.digest(db))
                verifications.append(.init(name: "Tables as at the recovery point", check: check,
                                           expected: "\(expected.count) tables, \(expected.reduce(0) { $0 + $1.rows }) rows, same content",
                                           actual: differences.isEmpty ? "\(expected.count) tables, \(expected.reduce(0) { $0 + $1.rows }) rows, same content" : differences.joined(separator: "; "),
                                           passed: differences.isEmpty))
            } catch {
                verifications.append(.init(name: "Tables as at the recovery point", check: check, expected: "same content",
                                           actual: "cannot read the restored tables: \(Self.message(error))", passed: false))
            }
        }
        let queries = scenario.steps.flatMap { entry -> [Scenario.Query] in
            if case .verify(let v) = entry.step { return v.queries }
            return []
        }
        for q in v.queries {
            let k = queries.firstIndex { $0.line == q.line } ?? 0
            verifications.append(check(q, index: k, db: db, before: state.disaster?.beforeDisasterValues ?? [:]))
        }
        let verifiedAt = now
        let all = state.checks + verifications
        let phase = DrillReport.Phase(name: "verification queries", seconds: now - start)
        event("verification", "verify", from: start)
        say("verified: \(all.filter(\.passed).count) of \(all.count) checks passed")
        return DrillVerificationResult(checks: verifications, verifiedAt: verifiedAt, phase: phase)
    }

    /// The drill markers of the restored file (immutable: a restored WAL-mode file has no -shm,
    /// and nothing else uses it). A file without marker tables holds no marker transactions.
    package func markers(_ path: String) throws -> MarkerSummary {
        let db = try SQLiteConnection(path: path, immutable: true)
        do { return try WriteLoadSchema.inspect(db) } catch let e as LifeboatError where e.kind == .notFound {
            return MarkerSummary(count: 0, firstSeq: 0, lastSeq: 0, lastCommittedAtMs: 0, gaps: 0, tornTransactions: 0)
        }
    }

    /// Runs one verification query. Only numbers are copied into the report: text results
    /// could be database content, so they are compared and reported as matched or not.
    package func check(_ q: Scenario.Query, index: Int, db: SQLiteConnection, before beforeDisaster: [Int: SQLiteValue]) -> DrillReport.Verification {
        let value: SQLiteValue
        do { value = try db.query(q.sql).first?.first ?? .null } catch {
            return .init(name: q.name, check: q.sql, expected: q.expect.description, actual: "query failed: \(Self.message(error))", passed: false)
        }
        let number: Double? = {
            switch value {
            case .integer(let n): return Double(n)
            case .real(let d): return d
            default: return nil
            }
        }()
        let shown = number.map { Scenario.Expectation.number($0) } ?? (value == .null ? "NULL" : "a text value (not copied into the report)")
        var passed = false
        switch q.expect {
        case .compare(let op, let want):
            if let n = number {
                switch op {
                case "=": passed = n == want
                case "!=": passed = n != want
                case "<": passed = n < want
                case "<=": passed = n <= want
                case ">": passed = n > want
                default: passed = n >= want
                }
            }
        case .text(let want):
            passed = value.text == want
            return .init(name: q.name, check: q.sql, expected: "the quoted text in the scenario", actual: passed ? "matched" : "did not match", passed: passed)
        case .beforeDisaster:
            let before = beforeDisaster[index] ?? .null
            passed = before == value
            let beforeShown: String
            switch before {
            case .integer(let n): beforeShown = String(n)
            case .real(let d): beforeShown = Scenario.Expectation.number(d)
            default: beforeShown = "the value before the disaster"
            }
            return .init(name: q.name, check: q.sql, expected: "\(beforeShown) (as before the disaster)", actual: number == nil && passed ? "matched" : shown, passed: passed)
        }
        return .init(name: q.name, check: q.sql, expected: q.expect.description, actual: shown, passed: passed)
    }
}
