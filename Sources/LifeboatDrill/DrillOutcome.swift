import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// Turns what the drill measured into targets met or missed, findings and the report.
extension DrillRunner {
    package func measureRPO(_ state: DrillState) -> DrillReport.RPORecord {
        guard let restored = state.recovery.restored else {
            return .init(method: "none", achievedSeconds: nil, lostTransactions: nil, lastCommittedBeforeDisaster: nil,
                         newestRestored: nil, detail: "nothing was restored, so no data was recovered")
        }
        let iso = { (ms: Int64) in RFC3339.format(Date(unixMilliseconds: ms), fractional: true) }
        let estimate = rpoQueryEstimate(state, restoredPath: restored.path)
        if scenario.hasWorkload {
            guard let present = try? restoredMarkerSeqs(restored.path) else {
                return .init(method: "markers", achievedSeconds: nil, lostTransactions: nil, lastCommittedBeforeDisaster: nil,
                             newestRestored: nil, detail: "the restored database's markers cannot be read", estimate: estimate)
            }
            var rpo = DrillRPO.count(committed: state.background.committed ?? [], present: present,
                                     statementAfterSeq: state.disaster?.statementAfterSeq, loadStartedMs: state.background.loadStartedMs)
            rpo.estimate = estimate
            return rpo
        }
        if let estimate {
            return .init(method: "rpo_query_estimate", achievedSeconds: estimate.seconds, lostTransactions: nil,
                         lastCommittedBeforeDisaster: state.disaster?.liveNewestMs.map(iso), newestRestored: nil,
                         detail: "an estimate, not a count of lost work: " + estimate.detail, estimate: estimate)
        }
        let age = Double(max(0, (state.disaster?.struckAtMs ?? 0) - restored.snapshotTimeMs)) / 1000
        return .init(method: "snapshot_age", achievedSeconds: age, lostTransactions: nil, lastCommittedBeforeDisaster: nil,
                     newestRestored: iso(restored.snapshotTimeMs),
                     detail: "time of the disaster minus the time of the restored snapshot: an upper bound, as no marker load or rpo_query measured the data itself")
    }

    /// rpo_query on the database before the disaster minus the same on the restored copy.
    package func rpoQueryEstimate(_ state: DrillState, restoredPath: String) -> DrillReport.Estimate? {
        guard let live = state.disaster?.liveNewestMs, let sql = scenario.source.rpoQuery,
              let db = try? SQLiteConnection(path: restoredPath, immutable: true), let r = try? newestTransactionMs(db, sql) else { return nil }
        return .init(method: "rpo_query", seconds: Double(max(0, live - r)) / 1000,
                     detail: "rpo_query (\(sql)) before the disaster minus the same on the restored copy; it sees only the writes that move it")
    }

    package func restoredMarkerSeqs(_ path: String) throws -> Set<Int64> {
        let db = try SQLiteConnection(path: path, immutable: true)
        guard try db.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'lifeboat_markers'")?.integer == 1 else { return [] }
        var out = Set<Int64>()
        let rows = try db.prepare("SELECT seq FROM lifeboat_markers")
        while try rows.step() { out.insert(rows.int64(0)) }
        return out
    }

    package func makeReport(_ state: DrillState, failure: Error?, rpo: DrillReport.RPORecord, evidence: DrillReport.Evidence, cleanup: String) -> DrillReport {
        let restored = state.recovery.restored
        let verifications = state.checks
        let rto = restored != nil ? state.verifiedAt.flatMap { v in state.disaster.map { v - $0.struckAt } } : nil
        let allVerified = restored != nil && !verifications.isEmpty && verifications.allSatisfy(\.passed)
        let t = scenario.targets
        var targets: [DrillReport.TargetResult] = []
        let failedChecks = verifications.filter { !$0.passed }.map(\.name)
        targets.append(.init(measure: "Recovery verified", target: "restored and every check passes", targetSeconds: nil,
                             achieved: restored == nil ? "not restored" : (verifications.isEmpty ? "no check ran" : (allVerified ? "all \(verifications.count) checks passed" : "\(failedChecks.count) check(s) failed")),
                             achievedSeconds: nil, met: allVerified,
                             detail: restored == nil ? "no repository could restore the database"
                                 : (verifications.isEmpty ? "nothing proved the restored data right: add verify queries, or a workload for the markers"
                                    : (allVerified ? "restored from '\(restored?.repository ?? "")'" : "failed: \(failedChecks.joined(separator: ", "))"))))
        let rtoMet = allVerified && (rto ?? .infinity) <= t.rto
        targets.append(.init(measure: "RTO", target: "≤ \(DrillFormat.seconds(t.rto))", targetSeconds: t.rto,
                             achieved: DrillFormat.seconds(allVerified ? rto : nil), achievedSeconds: allVerified ? rto : nil, met: rtoMet,
                             detail: rtoMet ? "from the damage to the restored database verified: detection, restore, swap into the production path, application health query, checks"
                                 : (allVerified ? "recovery took \(DrillFormat.seconds(rto)), over the target by \(DrillFormat.seconds((rto ?? 0) - t.rto))" : "the database was not recovered and verified")))
        let rpoMet = allVerified && (rpo.achievedSeconds ?? .infinity) <= t.rpo
        targets.append(.init(measure: "RPO", target: "≤ \(DrillFormat.seconds(t.rpo))", targetSeconds: t.rpo,
                             // As for the RTO: an unverified recovery demonstrates no figure, not a missed one.
                             achieved: DrillFormat.seconds(allVerified ? rpo.achievedSeconds : nil), achievedSeconds: allVerified ? rpo.achievedSeconds : nil, met: rpoMet,
                             detail: "\(rpo.method): " + Self.rpoDetail(rpo, target: t.rpo, met: rpoMet, verified: allVerified)))
        if let maxLost = t.maxLostTransactions {
            let lost = rpo.lostTransactions
            targets.append(.init(measure: "Lost transactions", target: "≤ \(maxLost)", targetSeconds: nil,
                                 achieved: lost.map(String.init) ?? "not measured", achievedSeconds: nil,
                                 met: allVerified && lost.map { $0 <= maxLost } == true,
                                 detail: lost == nil ? "needs the drill write load (markers)" : "committed transactions missing from the restored database"))
        }

        var outcome: DrillReport.Outcome = targets.allSatisfy(\.met) ? .passed : .targetMissed
        if failure != nil { outcome = .failed }
        var findings = recorder.findings
        findings += derivedFindings(state, rto: rto, rpo: rpo, targets: targets)
        if let failure { findings.insert("The drill could not complete: \(Self.message(failure)). No verdict on the targets.", at: 0) }

        let summary: String
        switch outcome {
        case .passed:
            summary = "Recovered from \(scenario.disaster?.kind.rawValue ?? "the disaster") in \(DrillFormat.seconds(rto)) (target \(DrillFormat.seconds(t.rto))) with \(DrillFormat.seconds(rpo.achievedSeconds)) of data lost (target \(DrillFormat.seconds(t.rpo))): every target met."
        case .targetMissed:
            summary = "Target missed: " + targets.filter { !$0.met }.map { "\($0.measure) \($0.achieved) (target \($0.target))" }.joined(separator: "; ") + "."
        case .failed:
            summary = "The drill could not complete: \(failure.map { Self.message($0) } ?? "unknown error")."
        }

        let finished = Date()
        let repos = state.setup.repositories.map { r in
            DrillReport.RepositoryRecord(name: r.spec.name,
                                         location: r.spec.isScratch ? "scratch (created and deleted by the drill)" : r.backend.location,
                                         role: r.spec.replicaOf.map { "replica of \($0)" } ?? (r.spec.isScratch ? "primary" : "existing repository (read only)"),
                                         stateAfterDisaster: state.disaster?.repositoryStates[r.spec.name] ?? "intact")
        }
        let workload = state.background.loadResult.map {
            DrillReport.WorkloadRecord(commitsPerSecondTarget: state.background.loadRate, commits: $0.commits, firstSeq: $0.firstSeq, lastSeq: $0.lastSeq, seconds: state.background.loadSeconds)
        }
        var size: Int?
        if let r = restored { size = r.result.bytes } else if scenario.source.isDrillOwned { size = nil }
        var projection: DrillReport.Projection?
        if let p = scenario.projection {
            if allVerified, let rto, let size, size > 0 {
                projection = DrillProjection.project(phases: state.rtoPhases, measuredRTO: rto, measuredBytes: size, productionBytes: p.productionBytes,
                                                     link: p.link, linkBytesPerSecond: p.linkBytesPerSecond, target: t.rto)
                if let scale = projection?.scale, scale > 1000 {
                    findings.append("The RTO projection scales a \(Units.formatBytes(size)) drill database by \(Int(scale.rounded()))× to \(Units.formatBytes(p.productionBytes)): each per-byte phase's fixed cost is scaled too, so it overstates; drill on a larger generated or copied database for a closer projection.")
                }
            } else {
                findings.append("No RTO projection to \(Units.formatBytes(p.productionBytes)): the database was not recovered and verified, so there are no phases to project from.")
            }
        }
        var report = DrillReport(
            id: id, outcome: outcome, summary: summary,
            startedAt: RFC3339.format(startedAt, fractional: true), finishedAt: RFC3339.format(finished, fractional: true),
            durationSeconds: finished.timeIntervalSince(startedAt), initiator: options.initiator,
            scenario: .init(name: scenario.name, description: scenario.description, file: scenario.file, fileSha256: scenario.fileSHA256),
            scope: .init(source: scenario.source.name, database: state.setup.databaseDescription, databaseBytes: size, journalMode: state.setup.journalMode,
                         repositories: repos, snapshots: recorder.snapshots, workload: workload),
            disaster: state.disaster?.record ?? .init(kind: scenario.disaster?.kind.rawValue ?? "", description: "the drill stopped before the disaster", struckAt: "", declaredAt: "", details: []),
            targets: targets,
            rto: .init(achievedSeconds: allVerified ? rto : nil, phases: state.rtoPhases,
                       restoreWorkerSeconds: (restored?.result.workerSeconds ?? [:]).sorted { $0.key < $1.key }.map { .init(name: $0.key, seconds: $0.value) },
                       restoreWorkers: state.recovery.workers),
            rpo: rpo, restoreAttempts: state.recovery.attempts, verifications: verifications, findings: findings,
            timeline: recorder.timeline.sorted { $0.start < $1.start }, cleanup: cleanup, signOff: DrillReport.blankSignOff, evidence: evidence)
        report.projection = projection
        return report
    }

    /// Never "over the target by" a negative amount: a loss within the target that still does
    /// not count (the recovery was not verified) says so.
    package static func rpoDetail(_ rpo: DrillReport.RPORecord, target: Double, met: Bool, verified: Bool) -> String {
        guard !met, let achieved = rpo.achievedSeconds else { return rpo.detail }
        if achieved > target {
            return "data loss of \(DrillFormat.seconds(achieved)), over the target by \(DrillFormat.seconds(achieved - target)); " + rpo.detail
        }
        return "the recovery was not verified, so no data loss is demonstrated (\(DrillFormat.seconds(achieved)) measured); " + rpo.detail
    }

    package func derivedFindings(_ state: DrillState, rto: Double?, rpo: DrillReport.RPORecord, targets: [DrillReport.TargetResult]) -> [String] {
        var out: [String] = []
        let attempts = state.recovery.attempts
        let failed = attempts.filter { !$0.ok }
        if let r = state.recovery.restored, !failed.isEmpty {
            out.append("Restore from \(failed.map { "'\($0.repository)'" }.joined(separator: ", ")) failed (\(failed.compactMap(\.error).first ?? "")); the database was recovered from '\(r.repository)'. Keep that replica in a separate failure domain (3-2-1).")
        }
        if state.recovery.restored == nil && !attempts.isEmpty {
            out.append("No repository could restore the database: \(attempts.map { "'\($0.repository)': \($0.error ?? "")" }.joined(separator: "; ")). Add a replica outside the primary's failure domain.")
        }
        for v in state.checks where !v.passed {
            out.append("Verification '\(v.name)' failed: expected \(v.expected), got \(v.actual).")
        }
        if let rpoTarget = targets.first(where: { $0.measure == "RPO" }), !rpoTarget.met, let achieved = rpo.achievedSeconds, achieved > scenario.targets.rpo {
            let every = scenario.steps.compactMap { e -> Double? in if case .snapshotSchedule(let s) = e.step { return s }; return nil }.first
            let hint = every.map { "snapshots every \(DrillFormat.seconds($0)) bound the data loss by about that interval; " } ?? ""
            let advice = scenario.replication == nil ? "snapshot more often, or add a replicate step (continuous replication) for sub-second RPO."
                : "lower the replicate interval, or look for what held the segments back (the disaster's details say how far each repository was)."
            out.append("RPO target missed by \(DrillFormat.seconds(achieved - scenario.targets.rpo)): \(hint)\(advice)")
        }
        if let rtoTarget = targets.first(where: { $0.measure == "RTO" }), !rtoTarget.met, let rto,
           let slow = state.rtoPhases.max(by: { $0.seconds < $1.seconds }) {
            out.append("RTO target missed: the slowest phase was \(slow.name) (\(DrillFormat.seconds(slow.seconds)) of \(DrillFormat.seconds(rto))).")
        }
        if scenario.replication != nil, rpo.lostByChoice != nil, let backup = rpo.lostByBackup, backup > 0,
           let oldest = rpo.oldestLostByBackup.flatMap(RFC3339.parse), let struck = state.disaster?.struckAtMs {
            let span = Double(max(0, struck - oldest.unixMilliseconds)) / 1000
            out.append("\(backup) transaction\(backup == 1 ? "" : "s") committed in the \(DrillFormat.seconds(span)) before the statement did not come back: replicate dates transactions by the WAL read that found them (every \(DrillFormat.seconds(min(0.1, (scenario.replication?.interval ?? 1) / 4)))), so those read with the statement share its time and restore --at cannot keep them apart from it.")
        }
        if let choice = rpo.lostByChoice, choice > 0 {
            out.append("The point-in-time restore to just before the statement also rolled back the \(choice) transactions committed after it (counted in the RPO as lost by choice); re-apply them from the platform's own logs where needed.")
        }
        if let e = rpo.estimate, rpo.method == "markers", let lost = rpo.lostTransactions, lost > 0, let seconds = rpo.achievedSeconds, e.seconds < seconds / 2 {
            out.append("rpo_query estimated \(DrillFormat.seconds(e.seconds)) of data loss while \(lost) committed transactions (\(DrillFormat.seconds(seconds))) were lost: the query misses writes that do not move it (inserts elsewhere, deletes); do not use it alone as the RPO.")
        }
        if rpo.method == "rpo_query_estimate" {
            out.append("RPO is an estimate from rpo_query, not a count of committed work lost: it misses writes that do not move the queried value. Run the drill's write load on a copy to count lost transactions.")
        }
        if rpo.method == "snapshot_age" {
            out.append("RPO was measured as snapshot age (an upper bound); add rpo_query to the scenario to measure it from the data.")
        }
        return out
    }
}
