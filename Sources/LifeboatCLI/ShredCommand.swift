import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat shred --source NAME --yes`: crypto-shredding of one source (see Shredder).
struct ShredCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shred",
        abstract: "Make every backup of one source unreadable at once by destroying its own key.",
        discussion: """
        For a source given a key of its own ('lifeboat source-key create') before its snapshots:
        deletes the source's key objects (from every repository given with --repo), then forgets
        all of the source's snapshots. From then on its data cannot be decrypted by anyone, the
        repository passphrase notwithstanding; run 'lifeboat prune' to free the space. Cannot be
        undone: --yes is always required (without it, shred shows what it would do). Other sources
        are not affected. Needs delete rights on sourcekeys/ and snapshots/ (admin credentials).
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The source to shred.") var source: String
    @Flag(help: "Confirm: destroy the source's keys and forget its snapshots.") var yes = false
    @Option(help: "How long to wait for other runs to release the repository (e.g. 10m).") var lockWait: String?

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let lockOptions = try repo.lockOptions(wait: lockWait)
            guard yes else {
                // Shows the plan, changes nothing, and is not audited (like a dry run).
                let plan = try Shredder.plan(repository, source: source)
                let report = Shredder.report(plan, dryRun: true)
                if output.json { try Output.json(report) } else if !output.quiet { print(report) }
                throw LifeboatError(.usage, "shred cannot be undone: re-run with --yes to destroy the key of source '\(source)' and forget its \(plan.snapshots.count) snapshot(s)")
            }
            let report = try UseCase.shred(repository, source: source, lock: lockOptions)
            if output.json { return try Output.json(report) }
            if !output.quiet { print(report) }
        }
    }

    private func print(_ r: ShredReport) {
        let will = r.dryRun ? "would " : ""
        Output.line("source \(r.source): \(will)destroy \(r.keysDestroyed.count) source key(s), \(will)forget \(r.snapshotsForgotten.count) snapshot(s)")
        Output.line("\(r.packs) pack(s) (\(Output.bytes(r.packBytes))) sealed with its key \(r.dryRun ? "would become" : "are now") undecryptable; 'lifeboat prune' deletes them")
        if r.masterKeySnapshots > 0 {
            Output.line("note: \(r.masterKeySnapshots) of its snapshot(s) were taken before it had its own key: their data is erased only by 'lifeboat prune'")
        }
        if !r.dryRun { Output.line("run 'lifeboat prune' now to free the space") }
    }
}
