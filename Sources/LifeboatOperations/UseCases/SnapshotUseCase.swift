import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// One source's snapshot under a shared lock (snapshots of several sources may run at
    /// once; prune and shred may not), audited. The lock is checked again right before the
    /// manifest commits, so a snapshot whose lock was broken as stale never commits.
    package static func snapshot(_ repository: Repository, source: String, databasePath: String,
                                 options: Snapshotter.Options, lock lockOptions: RepositoryLock.Options,
                                 auditDirectory: String? = nil) throws -> SnapshotResult {
        try RepositoryLock.with(repository, operation: "snapshot", source: source, exclusive: false, options: lockOptions) { lock in
            var opts = options
            opts.source = source
            let before = opts.beforeCommit
            opts.beforeCommit = {
                try lock.verifyHeld()
                try before?()
            }
            return try audited(repository, "snapshot", source: source, auditDirectory: auditDirectory, details: snapshotAuditDetails) {
                try Snapshotter(repository: repository, options: opts).run(databasePath: databasePath)
            }
        }
    }

    package static func snapshotAuditDetails(_ r: SnapshotResult) -> [String: AuditValue] {
        [AuditDetail.snapshot: .string(r.id), "pages": .int(r.pages), "pages_new": .int(r.pagesNew),
         "bytes_added": .int(r.bytesAdded), "packs": .int(r.packs)]
    }
}
