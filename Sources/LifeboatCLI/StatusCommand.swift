import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each source's newest snapshot against its RPO target, and whether replicas are in step.",
        discussion: """
            Exit codes: 0 all targets met, 20 an RPO target is breached or a drill is overdue (drill_within), 3 a replica is behind or unreachable.
            With --all, each location is a bucket, prefix or directory holding several repositories (one per host): \
            every source of every repository found up to two levels below it is listed, reading only (the restore \
            role suffices); 3 then means a repository could not be read.
            """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Only this source.") var source: String?
    @Option(help: "Write Prometheus textfile metrics here (default: the config's metrics_file).") var metricsFile: String?
    @Option(help: ArgumentHelp("Drill report directory (or its history.jsonl) whose newest drills status shows and holds against drill_within. Default: $LIFEBOAT_DRILL_REPORTS, the config's drill_history, ./drill-reports.", valueName: "path"))
    var drillHistory: String?
    @Flag(help: "Fleet view: every repository at or below each location (a prefix per host), every source in them.") var all = false
    @Flag(help: "With --all: show each source's last drill from the audit trails (read anyway when a drill_within target is set; one GET per audit object).") var drills = false
    @Option(help: ArgumentHelp("With --all: the RPO target of sources the config does not give one (e.g. 26h).", valueName: "duration"))
    var rpo: String?

    func run() throws {
        if all { return try FleetView(repo: repo, output: output, source: source, metricsFile: metricsFile, rpo: rpo, drills: drills).run() }
        guard !drills else { throw ValidationError("--drills is for --all; plain status reads the drill history (--drill-history)") }
        guard rpo == nil else { throw ValidationError("--rpo is for --all; a repository's targets come from the config") }
        try runReporting {
            let config = try repo.loadConfig()
            let locations = try repo.allLocations()
            let passphrase = try repo.passphrase()
            guard let primaryLocation = locations.first else { throw LifeboatError(.usage, "no repository given") }
            let primary = try Repository.open(backend: try repo.backend(for: primaryLocation), passphrase: passphrase)
            let replicas = locations.dropFirst().map { location -> (location: String, repository: Result<Repository, LifeboatError>) in
                do {
                    return (location, .success(try Repository.open(backend: try repo.backend(for: location), passphrase: passphrase)))
                } catch let e as LifeboatError {
                    return (location, .failure(e))
                } catch {
                    return (location, .failure(LifeboatError(.io, "\(error)")))
                }
            }
            var report = try StatusReport.build(primary: primary, replicas: replicas, config: config, only: source)
            let drills = DrillHistoryLocation.directory(flag: drillHistory, config: config)
            if DrillHistoryLocation.exists(drills) || report.sources.contains(where: { config?.drillWithin(for: $0.source) != nil }) {
                DrillStatus.apply(DrillHistoryLocation.drills(in: drills), history: drills, to: &report, config: config)
            }
            if let path = metricsFile ?? config?.metricsFile {
                try MetricsFile(path: path).update(MetricsFile.status(report) + MetricsFile.drillStatus(report))
            }
            if output.json {
                try Output.json(report)
            } else if !output.quiet {
                print(report)
            }
            // Worst first: data proven damaged, then targets missed, then copies behind.
            if report.verificationFailed {
                let names = report.sources.filter { $0.verification == "failed" }.map(\.source).joined(separator: ", ")
                throw LifeboatError(.corrupt, "the newest snapshot of \(names) failed 'lifeboat verify': restores of it are refused without --force; see 'lifeboat snapshots'")
            }
            if report.verifyOverdue {
                let names = report.sources.filter(\.verifyOverdue).map(\.source).joined(separator: ", ")
                throw LifeboatError(.targetMissed, "the newest snapshot of \(names) is unverified for longer than verify_within: run 'lifeboat verify --unverified'")
            }
            if report.rpoBreached {
                let names = report.sources.filter(\.rpoBreached).map(\.source).joined(separator: ", ")
                throw LifeboatError(.targetMissed, "RPO target breached for: \(names) (a snapshot older than the target, or replication lagging behind it)")
            }
            if let overdue = DrillStatus.overdueMessage(report) { throw LifeboatError(.targetMissed, overdue) }
            if report.replicasBehind {
                let names = report.repositories.filter { !$0.inStep }.map(\.location).joined(separator: ", ")
                throw LifeboatError(.incomplete, "replica(s) behind the primary or unreachable: \(names)")
            }
        }
    }

    static func age(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        return "\(s / 86400)d\(s % 86400 / 3600)h"
    }

    private func print(_ r: StatusReport) {
        Output.line("SOURCE               SNAPSHOTS  NEWEST (UTC)           AGE        RPO        STATE")
        for s in r.sources {
            var state = s.rpoBreached ? "BREACHED" : (s.rpoSeconds == nil ? "no target" : "ok")
            if s.verification == "failed" { state += ", VERIFY FAILED" } else if s.verifyOverdue { state += ", VERIFY OVERDUE" } else if let v = s.verification { state += ", \(v)" }
            let cols = [s.source.padding(toLength: 20, withPad: " ", startingAt: 0),
                        String(s.snapshots).padding(toLength: 10, withPad: " ", startingAt: 0),
                        (s.lastTime ?? "never").padding(toLength: 22, withPad: " ", startingAt: 0),
                        (s.ageSeconds.map(Self.age) ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                        (s.rpoSeconds.map(Self.age) ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                        state]
            Output.line(cols.joined(separator: " "))
            if let rep = s.replication {
                let lag = rep.lagSeconds.map { "lag \(String(format: "%.1f", $0)) s, \(Output.bytes(rep.lagBytes ?? 0)) waiting" } ?? "lag unknown (\(rep.note ?? "no database here"))"
                Output.line("  replicated: transaction \(rep.seq) at \(rep.lastShipped), \(lag)")
                for replica in rep.replicas {
                    Output.line("    \(replica.location): " + (replica.problem.map { "UNREACHABLE: \($0)" } ?? "transaction \(replica.seq.map(String.init) ?? "none") at \(replica.lastShipped ?? "-")"))
                }
            }
        }
        for repo in r.repositories {
            let role = repo.primary ? "primary" : "replica"
            let state: String
            if !repo.reachable { state = "UNREACHABLE: \(repo.problem ?? "")" } else if repo.inStep { state = "in step" } else { state = "BEHIND on \(repo.behind.joined(separator: ", "))" }
            Output.line("\(role) \(repo.location): \(repo.snapshots) snapshot(s), \(state)")
        }
        StatusDrillLines.lines(r).forEach { Output.line($0) }
    }
}
