import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take a consistent, incremental snapshot of a live SQLite database.",
        discussion: "Writers are not blocked in WAL mode; in rollback-journal mode they wait while pages are read."
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var objectLock: ObjectLockOptions

    @Argument(help: "Path of the SQLite database. Without it, every source of the config file is snapshotted.")
    var database: String?

    @Option(help: "Source name (default: the config's name for this path, else the file's base name).")
    var source: String?

    @Option(help: "zstd level for new pages (1 fast … 19 small).")
    var compressionLevel: Int32 = 2

    @Option(help: "Write Prometheus textfile metrics here (default: the config's metrics_file).")
    var metricsFile: String?

    @Option(help: "How long to wait for a conflicting lock (e.g. 30s, 5m). Default: fail at once with exit code 11.")
    var lockWait: String?

    func validate() throws {
        if let s = source { try SourceName.validate(s) }
        guard (-7...19).contains(compressionLevel) else { throw ValidationError("--compression-level must be -7 (fastest) to 19 (smallest)") }
    }

    func run() throws {
        try runReporting {
            let config = try repo.loadConfig()
            let jobs = try SnapshotJobs.plan(database: database, source: source, config: config)
            let repository = try repo.open()
            try objectLock.apply(to: repository.backend, stored: repository.config.objectLock, configured: config?.objectLock)
            let lockOptions = try repo.lockOptions(wait: lockWait)
            let metrics = (metricsFile ?? config?.metricsFile).map(MetricsFile.init(path:))
            var results: [SnapshotResult] = []
            var failures: [(String, LifeboatError)] = []
            for job in jobs {
                do {
                    let r = try snapshot(job, repository: repository, lockOptions: lockOptions)
                    results.append(r)
                    try metrics?.update(MetricsFile.snapshotRun(source: job.source, endedAt: Date(), success: true, result: r, rpo: config?.rpo(for: job.source)))
                    if !output.json && !output.quiet {
                        Output.line("snapshot \(r.id.prefix(8)) of \(r.source) at \(r.time)")
                        Output.line("  \(r.pages) pages (\(Output.bytes(r.databaseBytes))), \(r.pagesNew) new, \(Output.bytes(r.bytesAdded)) added to the repository in \(String(format: "%.2f", r.seconds)) s")
                    }
                    if let behind = Self.replicasBehind(r, repository) { failures.append((job.source, behind)) }
                } catch let e as LifeboatError {
                    failures.append((job.source, e))
                    try? metrics?.update(MetricsFile.snapshotRun(source: job.source, endedAt: Date(), success: false, result: nil, rpo: config?.rpo(for: job.source)))
                    // With several sources, report each failure and go on with the others.
                    if jobs.count > 1 { FileHandle.standardError.write(Data("lifeboat: \(job.source): \(e.message)\n".utf8)) }
                }
            }
            if output.json {
                if database != nil, let r = results.first { try Output.json(r) } else if database == nil { try Output.json(results) }
            }
            try SnapshotJobs.outcome(jobs: jobs.count, failures: failures)
        }
    }

    /// A snapshot stored in some copies but not all: exit 3 and say how to repair.
    static func replicasBehind(_ r: SnapshotResult, _ repository: Repository) -> LifeboatError? {
        let backend = repository.backend
        guard !r.behind.isEmpty else { return nil }
        let lagging = backend.behind.map(\.location)
        let primary = backend.replicas.first { !lagging.contains($0.location) }?.location ?? backend.replicas[0].location
        return LifeboatError(.incomplete, "snapshot \(r.id.prefix(8)) is stored, but \(r.behind.joined(separator: "; ")); bring it up to date with: lifeboat sync --from \(primary) --to \(lagging.first ?? "REPLICA")")
    }

    private func snapshot(_ job: SnapshotJobs.Job, repository: Repository, lockOptions: RepositoryLock.Options) throws -> SnapshotResult {
        var opts = Snapshotter.Options(source: job.source)
        opts.compressionLevel = compressionLevel
        opts.progress = Output.progress(enabled: !output.quiet && !output.json, label: "snapshot \(job.source)")
        return try UseCase.snapshot(repository, source: job.source, databasePath: job.path, options: opts, lock: lockOptions)
    }
}

/// Which databases one `lifeboat snapshot` run covers, and its exit status.
enum SnapshotJobs {
    struct Job {
        var source: String
        var path: String
    }

    static func plan(database: String?, source: String?, config: LifeboatConfig?) throws -> [Job] {
        if let database {
            // A configured source for this path lends its name.
            let configured = config?.sources.first { $0.path == database }?.name
            return [Job(source: try source ?? configured ?? SourceName.default(for: database), path: database)]
        }
        guard let config, !config.sources.isEmpty else {
            throw LifeboatError(.usage, "no database given: pass its path, or list sources in the config file (--config or LIFEBOAT_CONFIG)")
        }
        if let source {
            guard let s = config.source(named: source) else {
                throw LifeboatError(.usage, "source '\(source)' is not in \(config.path); configured: \(config.sources.map(\.name).joined(separator: ", "))")
            }
            return [Job(source: s.name, path: s.path)]
        }
        return config.sources.map { Job(source: $0.name, path: $0.path) }
    }

    /// One source: its own error. Several: all failed → the first error's code; some → 3.
    static func outcome(jobs: Int, failures: [(String, LifeboatError)]) throws {
        guard let first = failures.first else { return }
        if jobs == 1 { throw first.1 }
        let names = failures.map(\.0).joined(separator: ", ")
        if failures.count == jobs {
            throw LifeboatError(first.1.kind, "every snapshot failed (\(names)); see the lines above")
        }
        throw LifeboatError(.incomplete, "\(failures.count) of \(jobs) snapshots failed (\(names)); the others were stored")
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
