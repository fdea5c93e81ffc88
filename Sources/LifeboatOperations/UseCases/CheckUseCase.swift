import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Checks the repository, audited. `lock` nil takes no lock (read-only credentials);
    /// otherwise a shared lock keeps a concurrent prune from making packs vanish under the check.
    package static func check(_ repository: Repository, readData: Bool, lock lockOptions: RepositoryLock.Options?) throws -> CheckReport {
        let lock = try lockOptions.map { try RepositoryLock.acquire(repository, operation: "check", exclusive: false, options: $0) }
        defer { lock?.release() }
        return try audited(repository, "check", details: checkAuditDetails, result: { $0.ok ? .ok : .failed }) {
            try Checker(repository: repository).run(readData: readData)
        }
    }

    package static func checkAuditDetails(_ r: CheckReport) -> [String: AuditValue] {
        ["ok": .int(r.ok ? 1 : 0), "errors": .int(r.errors.count), "damaged_snapshots": .int(r.damagedSnapshots.count),
         "snapshots": .int(r.snapshots), "packs": .int(r.packs), "read_data": .int(r.readData ? 1 : 0)]
    }
}
