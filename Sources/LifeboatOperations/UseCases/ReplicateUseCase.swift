import Foundation
import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Continuous replication of several databases at once, one thread each, until `stop`.
    /// Each source takes its snapshots under the shared lock, audited, as `snapshot` does;
    /// segments need no lock (they are new objects nobody else writes, and prune keeps those
    /// a retained snapshot's lineage needs). The first failure of a source ends that source
    /// only; the others go on, and the run fails at the end naming it.
    package static func replicate(_ repository: Repository, jobs: [(source: String, path: String)], options: SourceReplicator.Options,
                                  log: ReplicationLog, stop: @escaping @Sendable () -> Bool,
                                  every: (interval: Double, report: @Sendable ([SourceReplicator.Status]) -> Void)? = nil) throws {
        let replicators = jobs.map { SourceReplicator(source: $0.source, databasePath: $0.path, repository: repository, options: options, log: log) }
        let failures = Locked<[(String, LifeboatError)]>([])
        let group = DispatchGroup()
        for r in replicators {
            let t = Thread {
                defer { group.leave() }
                do {
                    try r.run(stop: stop)
                } catch {
                    let e = error as? LifeboatError ?? LifeboatError(.io, "\(error)")
                    log.event("failed", ["source": r.source, "error": e.message], important: true)
                    failures.withLock { $0.append((r.source, e)) }
                }
            }
            t.name = "replicate \(r.source)"
            group.enter()
            t.start()
        }
        if let every {
            while group.wait(timeout: .now() + every.interval) == .timedOut { every.report(replicators.map(\.status)) }
            every.report(replicators.map(\.status))
        } else {
            group.wait()
        }
        let failed = failures.current
        if let first = failed.first {
            if jobs.count == 1 { throw first.1 }
            throw LifeboatError(first.1.kind, "replication of \(failed.map(\.0).joined(separator: ", ")) stopped: \(first.0): \(first.1.message)")
        }
    }
}
