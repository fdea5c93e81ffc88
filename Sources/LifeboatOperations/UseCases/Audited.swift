import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Runs an operation on an open repository and appends its audit record, ok or failed.
/// Operations that fail before the repository opens (no repository, wrong passphrase) have
/// no repository to record them in and are not audited. A repository known to be read-only
/// (`readOnly`) gets no record; the local log still does. `auditDirectory` moves the local copy
/// of the trail (a drill's scratch repository keeps its records in its own scratch space, not
/// beside the operator's real trails).
package func audited<T>(_ repository: Repository, _ operation: String, source: String? = nil, readOnly: Bool = false,
                        auditDirectory: String? = nil,
                details: (T) -> [String: AuditValue] = { _ in [:] }, result: (T) -> AuditResult = { _ in .ok },
                _ body: () throws -> T) throws -> T {
    let log = AuditLog(repository: repository, directory: auditDirectory)
    do {
        let value = try body()
        log.record(operation: operation, source: source, result: result(value), details: details(value), storeInRepository: !readOnly)
        return value
    } catch {
        throw recordFailure(error, in: log, operation, source: source, storeInRepository: !readOnly)
    }
}

/// `audited` for an operation that removes snapshot manifests (forget). The body calls
/// `willRemove` with the record's details (`AuditDetail.removedSnapshots` among them) right
/// before it deletes anything; the record is appended then, not after: a run killed midway
/// leaves manifests the trail already calls removed — `audit verify` reports them as put back
/// until a re-run of forget deletes them — instead of removed manifests nothing accounts for,
/// which no re-run could explain. A body that removes nothing (dry run, nothing to forget) is
/// recorded at the end with `details`; a failure after `willRemove` adds a failed record.
package func auditedRemoval<T>(_ repository: Repository, _ operation: String, source: String? = nil, details: (T) -> [String: AuditValue],
                       _ body: (_ willRemove: ([String: AuditValue]) -> Void) throws -> T) throws -> T {
    let log = AuditLog(repository: repository)
    var recorded = false
    do {
        let value = try body { details in
            log.record(operation: operation, source: source, result: .ok, details: details)
            recorded = true
        }
        if !recorded { log.record(operation: operation, source: source, result: .ok, details: details(value)) }
        return value
    } catch {
        throw recordFailure(error, in: log, operation, source: source)
    }
}

/// Appends the failed record (an error that is not a LifeboatError is named by its type only:
/// its text might hold anything) and gives the error back to rethrow.
private func recordFailure(_ error: Error, in log: AuditLog, _ operation: String, source: String?, storeInRepository: Bool = true) -> Error {
    let e = error as? LifeboatError ?? LifeboatError(.internalError, "\(type(of: error))")
    log.record(operation: operation, source: source, result: .failed, error: e, storeInRepository: storeInRepository)
    return error
}
