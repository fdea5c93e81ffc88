import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot (by id, 'latest', or the state at --at TIME) to a new file.",
        discussion: """
        The file is written beside the target, every page authenticated and the page list checked against the snapshot's image digest, then renamed into place. SQLite's PRAGMA integrity_check runs too unless 'lifeboat verify' already attested the image (--integrity-check auto, the default); an image whose verification failed is refused unless --force.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Snapshot id (or unique prefix), or 'latest' (the newest state: the last transaction replicate shipped, if it runs).")
    var snapshot: String?

    @Option(help: "Restore the state at this RFC 3339 time (e.g. 2026-11-21T10:00:00Z): the last transaction replicate shipped at or before it, else the newest snapshot taken at or before it.")
    var at: String?

    @Option(help: "Source name.")
    var source: String?

    @Option(help: "Path of the restored database.")
    var to: String

    @Flag(help: "Replace an existing file at --to (its -wal/-journal files are moved aside); also restore an image whose verification failed.")
    var force = false

    @Flag(help: "Continue an interrupted restore of the same target (killed, or its network lost): pages already written and checked against the snapshot's ids are kept.")
    var resume = false

    @Option(help: ArgumentHelp("When to run PRAGMA integrity_check: auto (unless the image is attested by 'lifeboat verify'), always, never.", valueName: "when"))
    var integrityCheck: String = "auto"

    func validate() throws {
        if snapshot != nil && at != nil { throw ValidationError("give either a snapshot id or --at, not both") }
        guard UseCase.IntegrityMode(rawValue: integrityCheck) != nil else { throw ValidationError("--integrity-check takes auto, always or never, not '\(integrityCheck)'") }
        if let at, RFC3339.parse(at) == nil { throw ValidationError("--at takes an RFC 3339 time such as 2026-11-21T10:00:00Z, not '\(at)'") }
    }

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            // Ctrl-C or a service stop removes the temporary copy at once (SIGKILL cannot: the
            // next restore of the target removes it).
            let interrupts = exitOnInterrupt { TargetFile.removeLive() }
            defer { interrupts.forEach { $0.cancel() } }
            var opts = Restorer.Options()
            opts.force = force
            opts.resume = resume
            opts.progress = Output.progress(enabled: !output.quiet && !output.json, label: "restore")
            let r = try UseCase.restore(repository, spec: snapshot, at: at.flatMap(RFC3339.parse), source: source, to: to, options: opts,
                                        integrity: UseCase.IntegrityMode(rawValue: integrityCheck) ?? .auto)
            reportFallbacks(repository, quiet: output.quiet)
            if output.json {
                // fetchedBytes and workerSeconds have always been camelCase here: kept as written.
                try Output.json(r, keys: .asWritten)
            } else if !output.quiet {
                Output.line("restored snapshot \(r.snapshot.prefix(8)) of \(r.source) taken \(r.time) to \(r.target)")
                Output.line("  \(r.pages) pages (\(Output.bytes(r.bytes))), every page verified, \(String(format: "%.2f", r.seconds)) s")
                if r.replayedTransactions > 0 {
                    Output.line("  then \(r.replayedTransactions) replicated transaction(s) from \(r.replayedSegments) segment(s) replayed: the state at \(r.stateTime ?? r.time)")
                }
                Output.line("  integrity: \(r.integrityNote ?? r.integrity)")
                if r.resumed { Output.line("  resumed: \(r.reusedPages) of \(r.pages) pages were already in place and checked against their ids") }
            }
        }
    }
}
