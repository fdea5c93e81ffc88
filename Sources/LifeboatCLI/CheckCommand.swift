import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct CheckCommand: ParsableCommand {
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
            do {
                report.objectLock = try ObjectLockReport.status(of: repository.backend)
            } catch let e as LifeboatError where !e.provesDamage {
                report.unreadable.append("object lock status: \(e.message)")
                report.ok = false
            }
            reportFallbacks(repository, quiet: output.quiet)
            if output.json {
                try Output.json(report)
            } else if !output.quiet || !report.ok {
                for e in report.errors { Output.line("error: \(e)") }
                // A store that stopped answering fails every object after: the first few say why.
                for u in report.unreadable.prefix(10) { Output.line("could not read: \(u)") }
                if report.unreadable.count > 10 { Output.line("could not read \(report.unreadable.count - 10) more object(s)") }
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
            // Damage only when proven (exit 13); what could not be read is a check to run again (exit 3).
            let unread = report.unreadable.isEmpty ? "" : "; it could not read \(report.unreadable.count) object(s), run it again when \(repository.backend.location) answers"
            if !report.errors.isEmpty || !report.damagedSnapshots.isEmpty {
                let fix = report.damagedPacks.isEmpty ? "" : "; 'lifeboat repair' stores the lost pages again from the live database or another copy"
                throw LifeboatError(.corrupt, "check found \(report.errors.count) error(s) and \(report.damagedSnapshots.count) damaged snapshot(s)\(unread)\(fix)")
            }
            if !report.unreadable.isEmpty {
                let unverified = report.unverifiedSnapshots > 0 ? ", so \(report.unverifiedSnapshots) snapshot(s) are not verified" : ""
                throw LifeboatError(.incomplete, "check could not read \(report.unreadable.count) object(s) (\(report.unreadable[0])) and found no damage in what it read\(unverified); run it again when \(repository.backend.location) answers")
            }
        }
    }
}
