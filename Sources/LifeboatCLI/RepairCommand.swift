import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations

struct RepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair a damaged copy of a repository: lost pages stored again from the live database or another copy.",
        discussion: """
        Repairs the first --repo (the others, when given, are the copies it repairs from unless --from is given). Runs 'check' (with --read-data, reading every pack), puts damaged or missing objects back from --from copies (verified against their SHA-256 names), copies what still authenticates out of damaged packs, and stores again, from the live databases (--from-database, else the config's sources), every page a snapshot needs that no intact pack holds. Then says exactly which snapshots stay damaged and which of their pages are nowhere any more.

        Rights: storing pages again needs only the backup role's GET/PUT/LIST. Replacing a damaged object deletes it first, which only the prune role may do (lifeboat iam-policy --role prune); a missing object is only PUT.

        Exit codes: 0 every snapshot is whole, 13 some snapshots stay damaged, 11 locked.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("from"), help: ArgumentHelp("Another copy of the repository to take damaged or missing objects from (repeatable).", valueName: "location"))
    var copies: [String] = []

    @Option(name: .customLong("from-database"), help: ArgumentHelp("A live database to take lost pages from (repeatable). Default: the config's sources.", valueName: "path"))
    var databases: [String] = []

    @Flag(help: "Read every pack first (as 'check --read-data') to find damage no listing shows.")
    var readData = false

    @Option(help: "How long to wait for the repository lock (e.g. 30s, 5m). Default: fail at once with exit code 11.")
    var lockWait: String?

    func run() throws {
        try runReporting {
            let locations = try repo.allLocations()
            let target = try repo.backend(for: locations[0])
            let repository = try Repository.open(backend: target, passphrase: try repo.passphrase())
            var options = Repairer.Options()
            options.copies = try (copies.isEmpty ? Array(locations.dropFirst()) : copies).map { try repo.backend(for: $0) }
            options.databases = databases.isEmpty ? (try repo.loadConfig()?.sources.map(\.path) ?? []) : databases
            options.readData = readData
            if !output.quiet && !output.json { options.progress = { @Sendable line in Output.line("  " + line) } }
            let r = try UseCase.repair(repository, options: options, lock: try repo.lockOptions(wait: lockWait))
            if output.json {
                try Output.json(r)
            } else if !output.quiet || !r.ok {
                Self.print(r)
            }
            if let refused = r.fromCopies?.refused, !refused.isEmpty {
                Warnings.emit("\(refused.count) damaged object(s) could not be replaced (\(refused.values.sorted().first ?? "")); they stay in place, and later runs keep off them")
            }
            if !r.ok {
                let pages = r.stillDamaged.reduce(0) { $0 + $1.pageCount }
                throw LifeboatError(.corrupt, "\(r.stillDamaged.count) snapshot(s) stay damaged (\(pages) page(s) are in no intact pack, copy or database); restore another snapshot, or give another copy with --from")
            }
        }
    }

    static func print(_ r: RepairReport) {
        Output.line("repair of \(r.location): \(r.damagedObjects.count) object(s) found damaged or missing")
        if let c = r.fromCopies {
            Output.line("  from other copies: \(c.replaced.count) replaced, \(c.copied.count) put back, \(c.unavailable.count) not found intact, \(c.refused.count) refused")
        }
        if r.salvagedBlobs > 0 { Output.line("  \(r.salvagedBlobs) blob(s) that still authenticate copied out of damaged packs") }
        for (path, n) in r.fromDatabases.sorted(by: { $0.key < $1.key }) { Output.line("  \(n) lost page(s) stored again from \(path)") }
        for (path, e) in r.databaseErrors.sorted(by: { $0.key < $1.key }) { Output.line("  could not read \(path): \(e)") }
        if r.packsWritten > 0 { Output.line("  \(r.packsWritten) pack(s) written, \(Output.bytes(r.bytesAdded)) added") }
        for s in r.stillDamaged {
            let what = s.problem ?? "page(s) \(s.pages ?? "") (\(s.pageCount)) are nowhere any more"
            Output.line("  still damaged: snapshot \(s.id.prefix(8))\(s.source.map { " (\($0) \(s.time ?? ""))" } ?? ""): \(what)")
        }
        if r.ok { Output.line("  every snapshot is whole (\(String(format: "%.1f", r.seconds)) s)") }
    }
}
