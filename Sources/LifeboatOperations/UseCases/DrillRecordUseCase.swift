import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension UseCase {
    /// Records a finished drill in a repository's audit trail: the one write a drill makes to an
    /// existing repository, a new audit object (encrypted, content-addressed, under Object Lock
    /// where configured), so the drill's evidence also lives off the host. Takes no lock: it
    /// adds one object and touches nothing else. Never throws (as every audit record): a record
    /// that cannot be stored is a warning, and `drill history --verify --repo` reports it.
    package static func recordDrill(_ repository: Repository, source: String, result: AuditResult, details: [String: AuditValue]) {
        AuditLog(repository: repository).record(operation: "drill", source: source, result: result, details: details)
    }

    /// The drill records in a repository's audit trail (every chain, every host), oldest first.
    package static func drillRecords(_ repository: Repository) throws -> [AuditRecord] {
        var damaged: [String] = []
        let lines = try AuditLog(repository: repository).readRepository { name, _ in damaged.append(name) }
        if let first = damaged.first {
            throw LifeboatError(.corrupt, "audit object \(first) of repository \(repository.backend.location) fails authentication; run 'lifeboat audit verify'")
        }
        return lines.compactMap { try? AuditRecord.decode(line: $0) }.filter { $0.operation == "drill" }.sorted { $0.time < $1.time }
    }
}
