import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete the data no snapshot needs, so forgotten data is really gone.",
        discussion: """
        The only command that deletes data: it needs delete rights on the repository (give backup
        jobs credentials without them). It holds the repository's exclusive lock, repacks partly
        used packs, and is safe to kill at any moment: run it again to finish.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Show what would be deleted; change nothing.") var dryRun = false
    @Option(help: "Leave unindexed packs younger than this alone (default 1h).") var orphanGrace: String = "1h"
    @Option(help: "Repack a pack only when more than this percentage of it is unused (default 0: erase everything unused).")
    var maxUnused: Double = 0
    @Option(help: "How long to wait for other runs to release the repository (e.g. 10m).") var lockWait: String?
    @Option(help: "Compact replicate's segments older than this, an hour into one (restores then reach the end of each such hour, not each transaction in it); 'never' keeps every transaction.") var compactSegmentsAfter: String = "24h"
    @Option(help: "How much of a lineage one compacted segment covers (default 1h: a restore point an hour; 24h: a day's segments cost at most the pages the day changed).") var compactWindow: String = "1h"
    @Flag(help: "Delete S3 objects still under governance-mode Object Lock (needs s3:BypassGovernanceRetention). Compliance mode cannot be bypassed.")
    var bypassGovernance = false

    func validate() throws {
        guard (0...100).contains(maxUnused) else { throw ValidationError("--max-unused is a percentage from 0 to 100") }
    }

    func run() throws {
        try runReporting {
            var opts = Pruner.Options()
            opts.dryRun = dryRun
            opts.orphanGrace = try Units.parseDuration(orphanGrace)
            opts.maxUnused = maxUnused / 100
            opts.compactAfter = compactSegmentsAfter == "never" ? nil : try Units.parseDuration(compactSegmentsAfter)
            opts.compactWindow = try Units.parseDuration(compactWindow)
            guard opts.compactWindow >= 1 else { throw LifeboatError(.usage, "--compact-window must be at least 1s") }
            let repository = try repo.open()
            if bypassGovernance {
                applyObjectLock(ObjectLockRuntime(policy: repository.config.objectLock, bypassGovernance: true), to: repository.backend)
            }
            let report = try Self.prune(repository, options: opts, lockOptions: try repo.lockOptions(wait: lockWait), output: output)
            if output.json { try Output.json(report) }
        }
    }

    /// Runs prune under the exclusive lock; prints the text summary unless quiet or JSON.
    static func prune(_ repository: Repository, options: Pruner.Options, lockOptions: RepositoryLock.Options, output: OutputOptions) throws -> PruneReport {
        var opts = options
        // On a terminal only (never in cron logs): phase, count, rate and ETA.
        if !output.quiet && !output.json && isatty(STDERR_FILENO) == 1 {
            let phaseStart = Locked((phase: "", start: Date(), last: Date.distantPast))
            opts.progress = { phase, done, total in
                let now = Date()
                let (start, print) = phaseStart.withLock { s -> (Date, Bool) in
                    if s.phase != phase { s = (phase, now, .distantPast) }
                    let due = now.timeIntervalSince(s.last) >= 0.2 || done == total
                    if due { s.last = now }
                    return (s.start, due)
                }
                guard print else { return }
                let elapsed = now.timeIntervalSince(start)
                let rate = elapsed > 0 ? Double(done) / elapsed : 0
                let eta = rate > 0 ? Double(total - done) / rate : 0
                FileHandle.standardError.write(Data(String(format: "\rprune: %@ %d/%d  %.0f/s  ETA %.0fs \u{1B}[K", phase, done, total, rate, eta).utf8))
                if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        }
        let r = try UseCase.prune(repository, options: opts, lock: lockOptions)
        if !output.json && !output.quiet {
            let verb = r.dryRun ? "would " : ""
            Output.line("\(r.snapshots) snapshot(s) need \(r.blobsReferenced) blob(s) in \(r.packsBefore) pack(s)")
            Output.line("\(verb)delete \(r.packsDeleted) unused pack(s), \(verb)repack \(r.packsRepacked) partly used pack(s), \(verb)delete \(r.orphanPacksDeleted) orphan pack(s)\(r.orphanPacksKept > 0 ? " (\(r.orphanPacksKept) younger orphan(s) kept)" : "")")
            Output.line("\(r.blobsRemoved) unneeded blob(s), \(Output.bytes(r.bytesDeleted)) \(r.dryRun ? "would be freed" : "freed"), \(Output.bytes(r.bytesWritten)) written")
            if r.objectsRetained > 0 {
                Output.line("\(r.objectsRetained) object(s) kept: under Object Lock retention until \(r.retainedUntilEarliest ?? "?")\(r.retainedUntilLatest == r.retainedUntilEarliest ? "" : " … \(r.retainedUntilLatest ?? "?")") (or listed by such an index file); prune again after that")
            }
            if r.segmentsDeleted + r.segmentsCompacted > 0 {
                Output.line("replicated segments: \(verb)delete \(r.segmentsDeleted) no kept snapshot replays or compacted, \(r.segmentsCompacted) compacted into \(r.segmentsWritten)")
            }
            if r.dryRun { Output.line("dry run: nothing was changed") }
        }
        return r
    }
}
