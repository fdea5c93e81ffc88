import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The drill report as Markdown, for a ticket, a wiki page or a printout.
public enum DrillMarkdown {
    public static func render(_ r: DrillReport, reportSHA256: String, trend: [DrillHistoryEntry]) -> String {
        var o = ""
        func line(_ s: String = "") { o += s + "\n" }
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        func row(_ cells: [String]) { line("| " + cells.map(cell).joined(separator: " | ") + " |") }
        func table(_ head: [String], _ rows: [[String]]) {
            row(head)
            line("|" + head.map { _ in " --- |" }.joined())
            rows.forEach(row)
            line()
        }

        line("# Disaster-recovery drill report: \(r.scenario.name)")
        line()
        line("**Outcome: \(outcomeText(r.outcome))**. \(r.summary)")
        line()
        table(["", ""], [
            ["Started (UTC)", r.startedAt], ["Finished (UTC)", r.finishedAt],
            ["Duration", DrillFormat.seconds(r.durationSeconds)],
            ["Started by", "\(r.initiator.shown), \(r.initiator.mode)"],
            ["Command", "`\(r.initiator.command)`"], ["Tool", "lifeboat \(r.initiator.toolVersion)"], ["Report id", r.id],
        ])

        line("## Scenario")
        line()
        line("**\(r.scenario.name)** (`\(r.scenario.file)`, SHA-256 `\(r.scenario.fileSha256)`)")
        line()
        if !r.scenario.description.isEmpty { line(r.scenario.description); line() }

        line("## Scope")
        line()
        line("- Source: `\(r.scope.source)`: \(r.scope.database)\(r.scope.journalMode.map { ", \($0) journal mode" } ?? "")\(r.scope.databaseBytes.map { ", \(Units.formatBytes($0))" } ?? "")")
        if let w = r.scope.workload {
            line("- Write load: \(w.commits) marker transactions at \(Int(w.commitsPerSecondTarget))/s over \(DrillFormat.seconds(w.seconds)) (seq \(w.firstSeq)–\(w.lastSeq))")
        }
        line()
        table(["Repository", "Role", "Location", "After the disaster"], r.scope.repositories.map { [$0.name, $0.role, $0.location, $0.stateAfterDisaster] })
        if !r.scope.snapshots.isEmpty {
            table(["Snapshot", "Taken (UTC)", "New pages", "Added", "Took", "Replicated to"], r.scope.snapshots.map {
                [$0.id, $0.time, String($0.pagesNew), Units.formatBytes($0.bytesAdded), DrillFormat.seconds($0.seconds), $0.replicatedTo.joined(separator: ", ")]
            })
        }

        line("## Disaster")
        line()
        line("**\(r.disaster.kind)**: \(r.disaster.description). Struck at \(r.disaster.struckAt); declared at \(r.disaster.declaredAt) (the end of detection; the RTO counts from the damage).")
        line()
        for d in r.disaster.details { line("- \(d)") }
        line()

        line("## Targets and achieved")
        line()
        table(["Measure", "Target", "Achieved", "Result", "Detail"], r.targets.map {
            [$0.measure, $0.target, $0.achieved, $0.met ? "✅ met" : "❌ missed", $0.detail]
        })

        if let p = r.previous {
            line(DrillComparison.text(p, r))
            line()
        }
        if let p = r.projection {
            line("*\(DrillProjection.sentence(p))* Not a measurement: see RTO projection below.")
            line()
        }

        if let strikes = r.strikes {
            line("## Strike points: RPO over the snapshot cycle")
            line()
            line(DrillStrikeSeries.spreadText(strikes))
            line()
            table(DrillStrikeSeries.header, DrillStrikeSeries.rows(strikes))
        }

        line("## RTO: where the time went")
        line()
        let total = DrillStrikeSeries.phaseTotal(r)
        table(["Phase", "Time"], r.rto.phases.map { [$0.name, DrillFormat.seconds($0.seconds)] } + [["**Total (damage → verified)**", "**\(DrillFormat.seconds(total.seconds))**"]])
        if let note = total.note { line(note); line() }
        if !r.rto.restoreWorkerSeconds.isEmpty {
            line("Fetch, decrypt + decompress and write overlap on \(r.rto.restoreWorkers) worker threads; their wall time is split by worker time (\(r.rto.restoreWorkerSeconds.map { "\($0.name) \(DrillFormat.seconds($0.seconds))" }.joined(separator: ", "))).")
            line()
        }

        if let p = r.projection {
            line("## RTO projection (\(DrillProjection.label))")
            line()
            line(DrillProjection.sentence(p))
            line()
            line("Formula: \(p.formula).")
            line()
            table(["Phase", "Rule", "Measured", "Projected"], p.phases.map {
                [$0.name, DrillProjection.ruleText($0.rule), DrillFormat.seconds($0.measuredSeconds), DrillFormat.seconds($0.projectedSeconds) + " (projected)"]
            } + [["**Total**", "", "\(DrillFormat.seconds(p.measuredRtoSeconds)) (measured RTO)", "**\(DrillFormat.seconds(p.projectedRtoSeconds)) (projected, not measured)**"]])
        }

        line("## RPO: data lost")
        line()
        line("- Method: \(r.rpo.method). \(r.rpo.detail)")
        if let l = r.rpo.lastCommittedBeforeDisaster { line("- Last transaction committed before the disaster was declared: \(l)") }
        if let n = r.rpo.newestRestored { line("- Newest transaction in the restored database: \(n)") }
        if let lost = r.rpo.lostTransactions {
            var parts: [String] = []
            if let b = r.rpo.lostByBackup { parts.append("\(b) lost by the backup") }
            if let c = r.rpo.lostByChoice, c > 0 { parts.append("\(c) lost by choice (rolled back by the point-in-time restore)") }
            line("- Committed transactions lost: \(lost)\(r.rpo.committedTransactions.map { " of \($0) committed when the disaster was declared" } ?? "")\(parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")")
        }
        if let e = r.rpo.estimate { line("- Estimate from \(e.method) (not a count): \(DrillFormat.seconds(e.seconds)); \(e.detail)") }
        line("- Achieved RPO: **\(DrillFormat.seconds(r.rpo.achievedSeconds))**")
        line()

        line("## Restore attempts")
        line()
        table(["Repository", "Result", "Snapshot", "Took"], r.restoreAttempts.map { a in
            [a.repository, a.ok ? "restored" : "failed: \(a.error ?? "")",
             a.snapshot.map { "\($0), taken \(a.snapshotTime ?? "")" } ?? "—", DrillFormat.seconds(a.seconds)]
        })

        line("## Verifications")
        line()
        table(["Check", "What", "Expected", "Actual", "Result"], r.verifications.map {
            [$0.name, $0.check, $0.expected, $0.actual, $0.passed ? "✅ pass" : "❌ fail"]
        })

        if let e = r.evidence {
            line("## Evidence")
            line()
            table(["Fact", "Value"], DrillEvidenceRows.rows(e))
        }

        line("## Findings")
        line()
        if r.findings.isEmpty { line("None.") }
        for f in r.findings { line("- \(f)") }
        line()

        line("## Timeline")
        line()
        table(["From", "To", "Event"], r.timeline.map { [String(format: "%.2f s", $0.start), String(format: "%.2f s", $0.end), $0.name] })

        if trend.count > 1 {
            line("## Trend (this scenario, oldest first)")
            line()
            table(["Drill (UTC)", "Outcome", "RTO", "RPO", "Restored from"], trend.map {
                [$0.time, $0.outcome, DrillFormat.seconds($0.rtoSeconds), DrillFormat.seconds($0.rpoSeconds), $0.restoredFrom ?? "—"]
            })
        }

        line("## Controls this evidence supports")
        line()
        for c in r.controls ?? DrillReport.controls { line("- \(c)") }
        line()
        line("Cleanup: \(r.cleanup).")
        line()

        line("## Sign-off")
        line()
        table(["Role", "Name", "Date", "Signature"], r.signOff.map { [$0.role, $0.name, $0.date, $0.signature] })

        line("---")
        line("This report holds no secrets and no database content. Its data is `report.json`, SHA-256 `\(reportSHA256)`; the SHA-256 of every report file is recorded in `SHA256SUMS` and in the drill history chain (`lifeboat drill history --verify`).")
        return o
    }

    package static func outcomeText(_ o: DrillReport.Outcome) -> String {
        switch o {
        case .passed: return "PASSED"
        case .targetMissed: return "TARGET MISSED"
        case .failed: return "DRILL FAILED TO COMPLETE"
        }
    }
}
