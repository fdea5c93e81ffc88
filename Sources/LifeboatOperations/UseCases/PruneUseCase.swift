import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Deletes what no snapshot needs, under the exclusive lock, audited; a dry run changes
    /// nothing, the audit trail included.
    package static func prune(_ repository: Repository, options: Pruner.Options, lock lockOptions: RepositoryLock.Options) throws -> PruneReport {
        let run = {
            try RepositoryLock.with(repository, operation: "prune", exclusive: true, options: lockOptions) { _ in
                try Pruner(repository: repository, options: options).run()
            }
        }
        return options.dryRun ? try run() : try audited(repository, "prune", details: pruneAuditDetails, run)
    }

    /// Prune removes no manifests (forget does); it deletes data: counts, no ids.
    package static func pruneAuditDetails(_ r: PruneReport) -> [String: AuditValue] {
        ["snapshots": .int(r.snapshots), "blobs_removed": .int(r.blobsRemoved),
         "bytes_deleted": .int(r.bytesDeleted), "packs_deleted": .int(r.packsDeleted),
         "orphan_packs_deleted": .int(r.orphanPacksDeleted), "packs_repacked": .int(r.packsRepacked), "bytes_written": .int(r.bytesWritten),
         "objects_retained": .int(r.objectsRetained)]
    }
}
