import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations

/// `lifeboat status --all`: the fleet view (FleetReport), printed as a table, JSON or
/// metrics, and its exit code.
struct FleetView {
    let repo: RepositoryOptions
    let output: OutputOptions
    let source: String?
    let metricsFile: String?
    let rpo: String?
    let drills: Bool

    func run() throws {
        try runReporting {
            let config = try repo.loadConfig()
            let locations = try repo.allLocations()
            let passphrase = try repo.passphrase()
            var targets = FleetReport.Targets(config: config, defaultRPO: try rpo.map(Units.parseDuration))
            targets.includeDrills = drills
            let report = FleetReport.build(locations: locations, options: repo.backendOptions(), passphrase: passphrase,
                                           targets: targets, only: source, workers: try Self.workers())
            if let path = metricsFile ?? config?.metricsFile {
                try MetricsFile(path: path).update(MetricsFile.fleet(report), replacing: MetricsFile.fleetFamilies)
            }
            if output.json {
                try Output.json(report)
            } else if !output.quiet {
                print(report)
            }
            // Worst first, as plain status: damage proven, then targets missed, then what could not be read.
            let named: ([FleetReport.Row]) -> String = { rows in
                let names = rows.map { "\($0.source ?? "-") in \($0.repository)" }
                return names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
            }
            if report.verificationFailed {
                throw LifeboatError(.corrupt, "the newest snapshot of \(named(report.rows.filter { $0.verification == "failed" })) failed 'lifeboat verify'; see 'lifeboat snapshots' there")
            }
            if let first = report.damaged.first {
                throw LifeboatError(.corrupt, "\(report.damaged.count) repositories could not be read because their data is damaged (first: \(first)); run 'lifeboat check' there")
            }
            if report.rpoBreached {
                throw LifeboatError(.targetMissed, "RPO target breached for: \(named(report.rows.filter(\.rpoBreached)))")
            }
            if report.verifyOverdue {
                throw LifeboatError(.targetMissed, "unverified for longer than verify_within: \(named(report.rows.filter(\.verifyOverdue))); run 'lifeboat verify --unverified' there")
            }
            if report.drillOverdue {
                throw LifeboatError(.targetMissed, "no passed drill within drill_within for: \(named(report.rows.filter(\.drillOverdue))); run 'lifeboat drill run SCENARIO.yml' for them")
            }
            if report.replicasBehind {
                let behind = Array(Set(report.rows.flatMap(\.replicasBehind))).sorted()
                let list = behind.prefix(5).joined(separator: ", ") + (behind.count > 5 ? " and \(behind.count - 5) more" : "")
                throw LifeboatError(.incomplete, "copies behind the newest snapshot another copy of the same repository holds: \(list); run 'lifeboat sync --from IN-STEP-COPY --to BEHIND-COPY'")
            }
            if report.unreadable > 0 {
                let first = report.rows.first { $0.error != nil }
                throw LifeboatError(.incomplete, "\(report.unreadable) of \(report.repositories) repositories could not be read (first: \(first?.repository ?? "?"): \(first?.error ?? "?")); the others are listed")
            }
        }
    }

    /// Repositories read at once: LIFEBOAT_S3_CONNECTIONS (default 4), and at least one per core
    /// (opening a repository derives its key with scrypt).
    static func workers() throws -> Int {
        var n = 4
        if let text = ProcessInfo.environmentValue("LIFEBOAT_S3_CONNECTIONS") {
            guard let v = Int(text), (1...64).contains(v) else {
                throw LifeboatError(.usage, "LIFEBOAT_S3_CONNECTIONS must be a count from 1 to 64, not '\(text)'")
            }
            n = v
        }
        return max(n, Parallel.workerCount)
    }

    private func print(_ r: FleetReport) {
        Output.line("REPOSITORY                     HOST             SOURCE           NEWEST (UTC)           AGE        RPO        VERIFIED    SHIPPED  LAST DRILL (UTC)       DRILL         COPIES     STATE")
        func col(_ s: String, _ width: Int) -> String {
            s.count > width ? String(s.prefix(width - 1)) + "…" : s.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        for row in r.rows {
            if let error = row.error {
                Output.line(col(row.repository, 30) + " ERROR: " + error)
                continue
            }
            var state = row.source == nil ? "no snapshots" : row.rpoBreached ? "BREACHED" : (row.rpoSeconds == nil ? "no target" : "ok")
            if row.verification == "failed" { state += ", VERIFY FAILED" } else if row.verifyOverdue { state += ", VERIFY OVERDUE" }
            if row.drillOverdue { state += ", DRILL OVERDUE" }
            if row.replicasInStep == false { state += ", BEHIND: " + row.replicasBehind.joined(separator: " ") }
            // Copies: "-" for a single copy, "in step" or how many of all copies lack the newest snapshot.
            let copies = row.copies.map { others in
                row.replicasInStep == true ? "\(others.count + 1) ok" : "\(row.replicasBehind.count)/\(others.count + 1) behind"
            } ?? "-"
            let cols = [col(row.repository, 30), col(row.host ?? "-", 16), col(row.source ?? "-", 16),
                        col(row.lastTime ?? "never", 22), col(row.ageSeconds.map(StatusCommand.age) ?? "-", 10),
                        col(row.rpoSeconds.map(StatusCommand.age) ?? "-", 10), col(row.verification ?? "-", 11),
                        col(row.lastShippedAt ?? "-", 8), col(row.lastDrillTime.map { String($0.prefix(19)) + "Z" } ?? "never", 22),
                        col(row.lastDrillOutcome ?? "-", 13), col(copies, 10), state]
            Output.line(cols.joined(separator: " "))
        }
        Output.line("\(r.sources) source(s) in \(r.repositories) repositories, \(r.unreadable) unreadable; read in \(String(format: "%.1f", r.seconds)) s")
    }
}
