import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Checks the repository, audited. `lock` nil takes no lock (read-only credentials);
    /// otherwise a shared lock keeps a concurrent prune from making packs vanish under the check.
    /// A repository that refuses writes (a read-only mount or credentials, often all a
    /// disaster leaves) is checked without a lock, and neither its findings nor the audit
    /// record go into it (the record goes to the local log); a warning says so.
    package static func check(_ repository: Repository, readData: Bool, lock lockOptions: RepositoryLock.Options?) throws -> CheckReport {
        var lock: RepositoryLock?
        var readOnly = false
        if let lockOptions {
            do {
                lock = try RepositoryLock.acquire(repository, operation: "check", exclusive: false, options: lockOptions)
            } catch let e as LifeboatError where [.io, .auth, .diskFull].contains(e.kind) {
                Warnings.emit("cannot write to \(repository.backend.location) (\(e.message)): checking it read-only, without a lock (a prune running meanwhile could cause false alarms); findings and the audit record are kept out of the repository (the audit record goes to the local log)")
                readOnly = true
            }
        }
        defer { lock?.release() }
        var report = try audited(repository, "check", readOnly: readOnly, details: checkAuditDetails, result: { $0.ok ? .ok : .failed }) {
            try Checker(repository: repository, record: !readOnly).run(readData: readData)
        }
        report.readOnly = readOnly
        return report
    }

    package static func checkAuditDetails(_ r: CheckReport) -> [String: AuditValue] {
        ["ok": .int(r.ok ? 1 : 0), "errors": .int(r.errors.count), "damaged_snapshots": .int(r.damagedSnapshots.count),
         "unreadable": .int(r.unreadable.count), "snapshots": .int(r.snapshots), "packs": .int(r.packs), "read_data": .int(r.readData ? 1 : 0)]
    }
}
