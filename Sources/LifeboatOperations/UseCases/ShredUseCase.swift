import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Destroys a source's keys and forgets its snapshots, under the exclusive lock (no
    /// snapshot of the source may be running with the key in memory), audited before the
    /// first key goes.
    package static func shred(_ repository: Repository, source: String, lock lockOptions: RepositoryLock.Options) throws -> ShredReport {
        try auditedRemoval(repository, "shred", source: source, details: { shredAuditDetails($0.snapshotsForgotten, keys: $0.keysDestroyed.count) }) { willRemove in
            try RepositoryLock.with(repository, operation: "shred", source: source, exclusive: true, options: lockOptions) { _ in
                let plan = try Shredder.plan(repository, source: source)
                return try Shredder.execute(repository, plan) { ids in willRemove(shredAuditDetails(ids, keys: plan.keys.count)) }
            }
        }
    }

    package static func shredAuditDetails(_ removed: [String], keys: Int) -> [String: AuditValue] {
        var d = removalAuditDetails(removed)
        d["source_keys_destroyed"] = .int(keys)
        return d
    }
}
