import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct SnapshotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshots", abstract: "List snapshots.")

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Only snapshots of this source.")
    var source: String?

    struct Row: Encodable {
        var id: String
        var source: String
        var time: String
        var pages: Int
        var pageSize: Int
        var size: Int
        var pagesNew: Int
        var bytesAdded: Int
        var journalMode: String
        var parent: String?
        /// "passed", "failed" or "unverified": the newest `lifeboat verify` of this image.
        var verified: String
        var verifiedAt: String?

    }

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let records = try repository.listSnapshots(source: source)
            let attestations = try repository.listAttestations(damaged: { _, _ in })
            let rows = try records.map { r in
                let a = try repository.attestation(for: r, among: attestations)
                return Row(id: r.id, source: r.manifest.source, time: RFC3339.format(r.manifest.time, fractional: true),
                           pages: r.manifest.pageCount, pageSize: r.manifest.pageSize, size: r.manifest.databaseSize,
                           pagesNew: r.manifest.pagesNew, bytesAdded: r.manifest.bytesAdded,
                           journalMode: r.manifest.journalMode, parent: r.manifest.parent,
                           verified: a?.outcome.rawValue ?? "unverified",
                           verifiedAt: a.map { RFC3339.format(Date(unixMilliseconds: $0.checkedAtMs)) })
            }
            if output.json { return try Output.json(rows) }
            if output.quiet { return }
            Output.line("ID        SOURCE               TIME (UTC)                  PAGES      SIZE        ADDED       VERIFIED")
            for r in rows {
                Output.line("\(r.id.prefix(8))  \(r.source.padding(toLength: 20, withPad: " ", startingAt: 0)) \(r.time.padding(toLength: 27, withPad: " ", startingAt: 0)) \(String(r.pages).padding(toLength: 10, withPad: " ", startingAt: 0)) \(Output.bytes(r.size).padding(toLength: 11, withPad: " ", startingAt: 0)) \(Output.bytes(r.bytesAdded).padding(toLength: 11, withPad: " ", startingAt: 0)) \(r.verified == "failed" ? "FAILED" : r.verified)")
            }
            Output.line("\(rows.count) snapshot(s)")
        }
    }
}
