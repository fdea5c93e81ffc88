import Foundation
import Lifeboat

/// Runs an operation on an open repository and appends its audit record, ok or failed.
/// Operations that fail before the repository opens (no repository, wrong passphrase) have
/// no repository to record them in and are not audited.
func audited<T>(_ repository: Repository, _ operation: String, source: String? = nil,
                details: (T) -> [String: AuditValue] = { _ in [:] }, result: (T) -> AuditResult = { _ in .ok },
                _ body: () throws -> T) throws -> T {
    let log = AuditLog(repository: repository)
    do {
        let value = try body()
        log.record(operation: operation, source: source, result: result(value), details: details(value))
        return value
    } catch let e as LifeboatError {
        log.record(operation: operation, source: source, result: .failed, error: e)
        throw e
    } catch {
        log.record(operation: operation, source: source, result: .failed, error: LifeboatError(.internalError, "\(type(of: error))"))
        throw error
    }
}
