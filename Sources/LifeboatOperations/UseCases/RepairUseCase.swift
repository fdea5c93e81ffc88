import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Repairs a damaged copy under the exclusive lock (it rewrites packs and, from other
    /// copies, replaces damaged objects), audited.
    package static func repair(_ repository: Repository, options: Repairer.Options, lock lockOptions: RepositoryLock.Options) throws -> RepairReport {
        try RepositoryLock.with(repository, operation: "repair", exclusive: true, options: lockOptions) { _ in
            try audited(repository, "repair", details: repairAuditDetails, result: { $0.ok ? .ok : .failed }) {
                try Repairer(repository: repository, options: options).run()
            }
        }
    }

    package static func repairAuditDetails(_ r: RepairReport) -> [String: AuditValue] {
        ["damaged_objects": .int(r.damagedObjects.count), "replaced": .int(r.fromCopies?.replaced.count ?? 0),
         "put_back": .int(r.fromCopies?.copied.count ?? 0), "salvaged_blobs": .int(r.salvagedBlobs),
         "pages_stored_again": .int(r.fromDatabases.values.reduce(0, +)), "packs_written": .int(r.packsWritten),
         "still_damaged_snapshots": .int(r.stillDamaged.count)]
    }
}
