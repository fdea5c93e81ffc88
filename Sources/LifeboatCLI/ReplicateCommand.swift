import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations

struct ReplicateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Ship every committed transaction of live SQLite databases to the repositories, continuously.",
        discussion: """
        Follows each database's WAL and stores its committed transactions, sealed, in every --repo replica within --interval of the commit; takes a snapshot every --snapshot-interval so a restore replays at most that much. Runs in the foreground until SIGTERM or SIGINT, then ships what is committed and exits. After a restart it resumes from the position stored in the repository (or takes a snapshot first when the WAL no longer holds it). Restore any transaction's state with 'lifeboat restore latest' or 'restore --at TIME'; see the ranges with 'lifeboat timeline'.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Paths of SQLite databases in WAL mode. Without any, every source of the config file.")
    var databases: [String] = []

    @Option(help: "Source name (one database only; default: the config's name for the path, else the file's base name).")
    var source: String?

    @Option(help: "A committed transaction is stored in every replica within about this long (e.g. 1s, 500ms).")
    var interval: String = "1s"

    @Option(help: "Take a snapshot this often, so a restore replays at most this much (e.g. 1h; 0 for never).")
    var snapshotInterval: String = "1h"

    @Option(help: "Restart the WAL (without losing a frame) once a generation holds this many MiB.")
    var walLimitMib: Int = 64

    @Option(help: "Write Prometheus textfile metrics here every 10 s (default: the config's metrics_file).")
    var metricsFile: String?

    @Option(help: "CPU niceness to run at, so the application's commits come first (0 keeps the normal priority; 0-19).")
    var nice: Int32 = 10

    func validate() throws {
        if let s = source { try SourceName.validate(s) }
        if source != nil && databases.count > 1 { throw ValidationError("--source names one database; give one path with it") }
        guard walLimitMib >= 1 else { throw ValidationError("--wal-limit-mib must be at least 1") }
        guard (0...19).contains(nice) else { throw ValidationError("--nice must be 0 to 19") }
    }

    func run() throws {
        if nice > 0 { Niceness.lower(to: nice) }
        try runReporting {
            let config = try repo.loadConfig()
            var jobs: [SnapshotJobs.Job] = []
            if databases.count <= 1 {
                jobs = try SnapshotJobs.plan(database: databases.first, source: source, config: config)
            } else {
                for d in databases { jobs += try SnapshotJobs.plan(database: d, source: nil, config: config) }
            }
            guard Set(jobs.map(\.source)).count == jobs.count else { throw LifeboatError(.usage, "two databases have the same source name; give each its own (--source, or the config)") }
            var options = SourceReplicator.Options()
            options.interval = try Units.parseDuration(interval)
            guard options.interval >= 0.05 else { throw LifeboatError(.usage, "--interval must be at least 50ms") }
            options.poll = min(0.1, options.interval / 4)
            options.snapshotInterval = try Units.parseDuration(snapshotInterval)
            options.walLimit = walLimitMib << 20
            options.lock = try repo.lockOptions(wait: "5m")
            let repository = try repo.open()
            let log = ReplicationLog(json: output.json, quiet: output.quiet)
            let stop = Locked(false)
            let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
                signal(sig, SIG_IGN)
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler {
                    if stop.current { _exit(128 + sig) } // a second signal: stop now
                    stop.withLock { $0 = true }
                    log.event("stopping", ["signal": sig == SIGINT ? "SIGINT" : "SIGTERM", "action": "shipping what is committed"], important: true)
                }
                s.resume()
                return s
            }
            defer { signals.forEach { $0.cancel() } }
            let metrics = (metricsFile ?? config?.metricsFile).map(MetricsFile.init(path:))
            log.event("started", ["sources": jobs.map(\.source).joined(separator: ","), "replicas": "\(repository.backend.replicas.count)",
                                  "interval": interval, "snapshot_interval": snapshotInterval], important: true)
            try UseCase.replicate(repository, jobs: jobs.map { ($0.source, $0.path) }, options: options, log: log, stop: { stop.current },
                                  every: (10, { statuses in try? metrics?.update(MetricsFile.replication(statuses, now: Date())) }))
        }
    }
}
