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
        discussion: "The file is written beside the target, verified page by page and with PRAGMA integrity_check, then renamed into place."
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Snapshot id (or unique prefix), or 'latest'.")
    var snapshot: String?

    @Option(help: "Restore the newest snapshot taken at or before this RFC 3339 time (e.g. 2026-11-21T10:00:00Z).")
    var at: String?

    @Option(help: "Source name.")
    var source: String?

    @Option(help: "Path of the restored database.")
    var to: String

    @Flag(help: "Replace an existing file at --to (its -wal/-journal files are moved aside).")
    var force = false

    func validate() throws {
        if snapshot != nil && at != nil { throw ValidationError("give either a snapshot id or --at, not both") }
        if let at, RFC3339.parse(at) == nil { throw ValidationError("--at takes an RFC 3339 time such as 2026-11-21T10:00:00Z, not '\(at)'") }
    }

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let r = try audited(repository, "restore", source: source, details: {
                ["snapshot": .string($0.snapshot), "snapshot_source": .string($0.source), "pages": .int($0.pages), "bytes": .int($0.bytes), "target": .string($0.target)]
            }) {
                let record: SnapshotRecord
                do {
                    if let at, let time = RFC3339.parse(at) {
                        record = try repository.findSnapshot(at: time, source: try resolveSource(repository))
                    } else {
                        let spec = snapshot ?? "latest"
                        record = try repository.findSnapshot(spec, source: spec == "latest" ? try resolveSource(repository) : source)
                    }
                } catch let e as LifeboatError where e.kind == .notFound {
                    throw repository.explainingShred(e, source: source)
                }
                var opts = Restorer.Options()
                opts.force = force
                opts.progress = Output.progress(enabled: !output.quiet && !output.json, label: "restore")
                return try Restorer(repository: repository, options: opts).restore(record, to: to)
            }
            reportFallbacks(repository, quiet: output.quiet)
            if output.json {
                // fetchedBytes and workerSeconds have always been camelCase here: kept as written.
                try Output.json(r, keys: .asWritten)
            } else if !output.quiet {
                Output.line("restored snapshot \(r.snapshot.prefix(8)) of \(r.source) taken \(r.time) to \(r.target)")
                Output.line("  \(r.pages) pages (\(Output.bytes(r.bytes))), every page verified, integrity_check ok, \(String(format: "%.2f", r.seconds)) s")
            }
        }
    }

    /// --source, or the only source in the repository.
    func resolveSource(_ repository: Repository) throws -> String {
        if let source { return source }
        let sources = Set(try repository.listSnapshots().map(\.manifest.source))
        guard sources.count == 1, let only = sources.first else {
            if sources.isEmpty { throw LifeboatError(.notFound, "the repository has no snapshots") }
            throw LifeboatError(.usage, "the repository holds several sources (\(sources.sorted().joined(separator: ", "))); pass --source")
        }
        return only
    }
}
