import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct CheckCommand: ParsableCommand {
    /// What the check found, for its audit record (failed when it found damage).
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify the repository; with --read-data, download and verify every stored byte."
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Download, decrypt, decompress and verify every object.")
    var readData = false

    @Flag(help: "Take no lock (for read-only credentials; a prune running meanwhile may cause false alarms).")
    var noLock = false

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            var report = try UseCase.check(repository, readData: readData, lock: noLock ? nil : try repo.lockOptions(wait: nil))
            report.objectLock = try ObjectLockReport.status(of: repository.backend)
            reportFallbacks(repository, quiet: output.quiet)
            if output.json {
                try Output.json(report)
            } else if !output.quiet || !report.ok {
                for e in report.errors { Output.line("error: \(e)") }
                for d in report.damagedSnapshots {
                    Output.line("damaged snapshot \(d.id.prefix(8))\(d.source.map { " (\($0) \(d.time ?? ""))" } ?? ""): \(d.problem)")
                }
                if let n = report.supersededPacks {
                    Output.line("\(n) damaged or missing pack(s) are no longer needed (their blobs are stored again elsewhere); 'lifeboat prune' deletes them")
                }
                if let n = report.shreddedPacks {
                    Output.line("\(n) pack(s) of shredded sources are undecryptable on purpose (not checked); 'lifeboat prune' deletes them")
                }
                for s in report.objectLock ?? [] { Output.line(ObjectLockReport.line(s)) }
                if report.ok {
                    Output.line("no errors: \(report.snapshots) snapshot(s), \(report.packs) pack(s), \(report.blobs) blob(s)\(readData ? ", \(Output.bytes(report.bytesRead)) read and verified" : "")")
                }
            }
            if report.damageRecorded == false && !report.readOnly {
                Warnings.emit("the damaged packs found could not be recorded in the repository; later snapshots still find missing or truncated packs themselves")
            }
            if !report.ok {
                let fix = report.damagedPacks.isEmpty ? "" : "; 'lifeboat repair' stores the lost pages again from the live database or another copy"
                throw LifeboatError(.corrupt, "check found \(report.errors.count) error(s) and \(report.damagedSnapshots.count) damaged snapshot(s)\(fix)")
            }
        }
    }
}
