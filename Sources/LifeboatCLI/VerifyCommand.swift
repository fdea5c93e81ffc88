import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatRepository
import LifeboatOperations

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Restore snapshots into scratch space and run SQLite's checks on them; record the result.",
        discussion: """
        Each snapshot is restored (every page authenticated, the page list checked against the image digest), then \
        PRAGMA integrity_check runs on it, and PRAGMA foreign_key_check where the schema declares foreign keys. The \
        result, passed or failed, is stored in the repository as an encrypted attestation bound to the snapshot's \
        image, and audited. A restore of an attested image skips SQLite's check (--integrity-check auto); a failed \
        one is refused without --force. Run 'lifeboat verify --unverified' nightly: it is the regular test of \
        backups that ISO 27001 A.8.13 and SOC 2 A1.3 ask for.

        Exit codes: 0 every snapshot passed, 13 one failed (its attestation is stored), others as for restore.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Snapshot id (or unique prefix), or 'latest' (the default).")
    var snapshot: String?

    @Option(help: "Source name (needed for 'latest' when the repository holds several).")
    var source: String?

    @Flag(help: "Verify every snapshot that has no attestation yet, oldest first.")
    var unverified = false

    @Option(help: ArgumentHelp("Directory with room for one copy of the database. Default: $TMPDIR, else /tmp.", valueName: "dir"))
    var scratch: String?

    @Option(help: "How long to wait for a conflicting lock (e.g. 5m).")
    var lockWait: String?

    func validate() throws {
        if unverified && snapshot != nil { throw ValidationError("give a snapshot or --unverified, not both") }
    }

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let selection: UseCase.VerifySelection = unverified ? .unverified : .snapshot(snapshot ?? "latest")
            let records = try UseCase.snapshotsToVerify(repository, selection, source: source)
            let lockOptions = try repo.lockOptions(wait: lockWait)
            var verifier = Verifier(repo: repository, scratch: scratch ?? ProcessInfo.environmentValue("TMPDIR") ?? "/tmp")
            verifier.progress = Output.progress(enabled: !output.quiet && !output.json, label: "verify")
            var outcomes: [UseCase.VerifyOutcome] = []
            for record in records {
                let o = try UseCase.verify(repository, record, verifier: verifier, lock: lockOptions)
                outcomes.append(o)
                if !output.json && (!output.quiet || o.attestation.outcome == .failed) {
                    Output.line(Self.line(record, o.attestation))
                }
            }
            if output.json {
                try Output.json(outcomes.map(\.attestation))
            } else if !output.quiet && records.isEmpty {
                Output.line("every snapshot\(source.map { " of \($0)" } ?? "") is verified already")
            }
            let failed = outcomes.filter { $0.attestation.outcome == .failed }
            if !failed.isEmpty {
                throw LifeboatError(.corrupt, "\(failed.count) of \(outcomes.count) snapshot(s) failed verification; restores of them are refused without --force: restore an older snapshot, and find out what damaged the database")
            }
        }
    }

    static func line(_ record: SnapshotRecord, _ a: Attestation) -> String {
        let what = "snapshot \(record.shortID) of \(record.manifest.source) taken \(RFC3339.format(record.manifest.time))"
        switch a.outcome {
        case .passed:
            return "\(what): verified (integrity_check ok, foreign keys \(a.foreignKeys), \(String(format: "%.1f", a.seconds)) s)"
        case .failed:
            return "\(what): FAILED: \(a.problems.first ?? "no detail")\(a.problems.count > 1 ? " (+\(a.problems.count - 1) more)" : "")"
        }
    }
}
