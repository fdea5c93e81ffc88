import ArgumentParser
import Foundation
import Lifeboat

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take a consistent, incremental snapshot of a live SQLite database.",
        discussion: "Writers are not blocked in WAL mode; in rollback-journal mode they wait while pages are read."
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Path of the SQLite database.")
    var database: String

    @Option(help: "Source name (default: the file's base name).")
    var source: String?

    @Option(help: "zstd level for new pages (1 fast … 19 small).")
    var compressionLevel: Int32 = 1

    func validate() throws {
        if let s = source { try SourceName.validate(s) }
        guard (-7...19).contains(compressionLevel) else { throw ValidationError("--compression-level must be -7 (fastest) to 19 (smallest)") }
    }

    func run() throws {
        try runReporting {
            let name = try source ?? SourceName.default(for: database)
            let repository = try repo.open()
            var opts = Snapshotter.Options(source: name)
            opts.compressionLevel = compressionLevel
            opts.progress = Output.progress(enabled: !output.quiet && !output.json, label: "snapshot \(name)")
            let r = try Snapshotter(repository: repository, options: opts).run(databasePath: database)
            if output.json {
                try Output.json(r)
            } else if !output.quiet {
                Output.line("snapshot \(r.id.prefix(8)) of \(r.source) at \(r.time)")
                Output.line("  \(r.pages) pages (\(Output.bytes(r.databaseBytes))), \(r.pagesNew) new, \(Output.bytes(r.bytesAdded)) added to the repository in \(String(format: "%.2f", r.seconds)) s")
            }
            if let replicated = repository.backend as? ReplicatedBackend, !r.behind.isEmpty {
                let primary = replicated.replicas.first { r2 in !r.behind.contains { $0.hasPrefix(r2.location + ":") } }?.location ?? replicated.primary.location
                let lagging = replicated.behind.map(\.location)
                throw LifeboatError(.incomplete, "snapshot \(r.id.prefix(8)) is stored, but \(r.behind.joined(separator: "; ")); bring it up to date with: lifeboat sync --from \(primary) --to \(lagging.first ?? "REPLICA")")
            }
        }
    }
}

enum SourceName {
    static func validate(_ s: String) throws {
        let ok = !s.isEmpty && s.count <= 128 && s.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)
        }
        guard ok else { throw ValidationError("source name '\(s)' may contain only letters, digits, '.', '_' and '-'") }
    }

    static func `default`(for path: String) throws -> String {
        let name = (path as NSString).lastPathComponent
        try validate(name)
        return name
    }
}
