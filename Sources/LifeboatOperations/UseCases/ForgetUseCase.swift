import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// What a forget run decided and did.
    package struct ForgetOutcome: Encodable {
        package var dryRun: Bool
        package var groups: [Forgetter.Group]
        package var forgotten: Int
        package var prune: PruneReport?
    }

    /// Forgets snapshots by each source's policy under a shared lock, audited before the
    /// manifests go (see `auditedRemoval`), so `audit verify` accounts for every snapshot a
    /// run deletes. A dry run changes nothing, the audit trail included.
    package static func forget(_ repository: Repository, source: String?, policy: @escaping (String) -> RetentionPolicy?,
                               dryRun: Bool, lock lockOptions: RepositoryLock.Options) throws -> ForgetOutcome {
        func forget(_ willRemove: ([String: AuditValue]) -> Void) throws -> ForgetOutcome {
            try RepositoryLock.with(repository, operation: "forget", exclusive: false, options: lockOptions) { _ in
                let records = try repository.listSnapshots(source: source)
                let groups = Forgetter.plan(records, policy: policy)
                let removed = groups.flatMap(\.remove).map(\.id)
                if !dryRun && !removed.isEmpty { willRemove(removalAuditDetails(removed)) }
                let n = dryRun ? 0 : try Forgetter.execute(repository, groups)
                return ForgetOutcome(dryRun: dryRun, groups: groups, forgotten: n, prune: nil)
            }
        }
        return dryRun ? try forget { _ in }
            : try auditedRemoval(repository, "forget", source: source, details: { _ in removalAuditDetails([]) }, forget)
    }

    package static func removalAuditDetails(_ removed: [String]) -> [String: AuditValue] {
        var d: [String: AuditValue] = ["forgotten": .int(removed.count)]
        if !removed.isEmpty { d[AuditDetail.removedSnapshots] = .string(removed.joined(separator: ",")) }
        return d
    }
}
