import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct ForgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Forget snapshots by a retention policy, per source (restic's --keep-* semantics).",
        discussion: """
        Only snapshot manifests are deleted; run 'lifeboat prune' (or pass --prune) to delete the data
        no snapshot needs any more. Without --keep-* options, each source's retention from the config
        file applies. Counts of -1 keep every period. Periods are in the local time zone.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Keep the n newest snapshots.") var keepLast: Int?
    @Option(help: "Keep the newest snapshot of each of the n newest hours.") var keepHourly: Int?
    @Option(help: "Keep the newest snapshot of each of the n newest days.") var keepDaily: Int?
    @Option(help: "Keep the newest snapshot of each of the n newest ISO weeks.") var keepWeekly: Int?
    @Option(help: "Keep the newest snapshot of each of the n newest months.") var keepMonthly: Int?
    @Option(help: "Keep the newest snapshot of each of the n newest years.") var keepYearly: Int?
    @Option(help: "Keep every snapshot within this span of the newest one (e.g. 7d, 6m, 1y6m, 36h).") var keepWithin: String?

    @Option(help: "Only this source.") var source: String?
    @Flag(help: "Show what would be forgotten; change nothing.") var dryRun = false
    @Flag(help: "Run prune afterwards.") var prune = false
    @Option(help: "How long to wait for a conflicting lock (e.g. 5m).") var lockWait: String?
    @Flag(help: "Delete manifests still under governance-mode S3 Object Lock (see prune --bypass-governance).")
    var bypassGovernance = false

    func validate() throws {
        for (name, v) in [("last", keepLast), ("hourly", keepHourly), ("daily", keepDaily), ("weekly", keepWeekly), ("monthly", keepMonthly), ("yearly", keepYearly)] {
            if let v, v < -1 { throw ValidationError("--keep-\(name) must be -1 (all) or a count of 0 or more") }
        }
        if let w = keepWithin { _ = try CalendarSpan.parse(w) }
    }

    /// The policy from the flags, or nil when no --keep-* was given.
    func flagPolicy() throws -> RetentionPolicy? {
        let given = [keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly].contains { $0 != nil } || keepWithin != nil
        guard given else { return nil }
        let p = RetentionPolicy(last: keepLast ?? 0, hourly: keepHourly ?? 0, daily: keepDaily ?? 0, weekly: keepWeekly ?? 0,
                                monthly: keepMonthly ?? 0, yearly: keepYearly ?? 0, within: try keepWithin.map(CalendarSpan.parse))
        if p.isEmpty { throw LifeboatError(.usage, "this policy keeps nothing; give a --keep-* value above 0 (forget never deletes every snapshot)") }
        return p
    }

    struct Result: Encodable {
        var dryRun: Bool
        var groups: [Forgetter.Group]
        var forgotten: Int
        var prune: PruneReport?
    }

    func run() throws {
        try runReporting {
            let config = try repo.loadConfig()
            let flags = try flagPolicy()
            if flags == nil && config?.retention == nil && !(config?.sources.contains { $0.retention != nil } ?? false) {
                throw LifeboatError(.usage, "no retention policy: give --keep-last/--keep-daily/... or set 'retention' in the config file")
            }
            let repository = try repo.open()
            if bypassGovernance {
                applyObjectLock(ObjectLockRuntime(policy: repository.config.objectLock, bypassGovernance: true), to: repository.backend)
            }
            let lockOptions = try repo.lockOptions(wait: lockWait)
            func forget(_ willRemove: ([String: AuditValue]) -> Void) throws -> Result {
                try RepositoryLock.with(repository, operation: "forget", exclusive: false, options: lockOptions) { _ in
                    let records = try repository.listSnapshots(source: source)
                    let groups = Forgetter.plan(records, policy: { flags ?? config?.retention(for: $0) })
                    let removed = groups.flatMap(\.remove).map(\.id)
                    // Recorded before the manifests go (see auditedRemoval), so `audit verify`
                    // accounts for every snapshot this run deletes.
                    if !dryRun && !removed.isEmpty { willRemove(Self.auditDetails(removed)) }
                    let n = dryRun ? 0 : try Forgetter.execute(repository, groups)
                    return Result(dryRun: dryRun, groups: groups, forgotten: n, prune: nil)
                }
            }
            // A dry run changes nothing, the audit trail included.
            var result = dryRun ? try forget { _ in }
                : try auditedRemoval(repository, "forget", source: source, details: { _ in Self.auditDetails([]) }, forget)
            if !output.json && !output.quiet { print(result) }
            if prune && !dryRun {
                result.prune = try PruneCommand.prune(repository, options: Pruner.Options(), lockOptions: lockOptions, output: output)
            }
            if output.json { try Output.json(result) }
        }
    }

    static func auditDetails(_ removed: [String]) -> [String: AuditValue] {
        var d: [String: AuditValue] = ["forgotten": .int(removed.count)]
        if !removed.isEmpty { d[AuditDetail.removedSnapshots] = .string(removed.joined(separator: ",")) }
        return d
    }

    private func print(_ r: Result) {
        for g in r.groups {
            Output.line("source \(g.source): \(g.policy)")
            for e in g.keep { Output.line("  keep    \(e.id.prefix(8))  \(e.time)  \(e.reasons.joined(separator: ", "))") }
            for e in g.remove { Output.line("  \(r.dryRun ? "would forget" : "forget")  \(e.id.prefix(8))  \(e.time)") }
        }
        let total = r.groups.reduce(0) { $0 + $1.remove.count }
        Output.line(r.dryRun ? "dry run: \(total) snapshot(s) would be forgotten; nothing was changed"
                             : "\(r.forgotten) snapshot(s) forgotten; run 'lifeboat prune' to delete the data only they needed")
    }
}
