import Foundation
import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// What `lifeboat verify` checks: one snapshot (an id or "latest"), or every snapshot that
    /// has no attestation yet.
    package enum VerifySelection: Sendable {
        case snapshot(String)
        case unverified
    }

    package struct VerifyOutcome: Encodable, Sendable {
        package var attestation: Attestation
        /// The stored attestation's object name.
        package var name: String
    }

    /// The snapshots a selection means, oldest first.
    package static func snapshotsToVerify(_ repository: Repository, _ selection: VerifySelection, source: String?) throws -> [SnapshotRecord] {
        switch selection {
        case .snapshot(let spec):
            return [try findSnapshot(repository, spec: spec, at: nil, source: source)]
        case .unverified:
            let attested = Set(try repository.listAttestations(damaged: { _, _ in }).map { "\($0.attestation.snapshot) \($0.attestation.imageDigest)" })
            return try repository.listSnapshots(source: source).filter { !attested.contains("\($0.id) \($0.manifest.imageDigest)") }
        }
    }

    /// Verifies one snapshot under a shared lock (a prune may not remove its packs midway),
    /// stores the attestation — passed or failed — and audits it with the attestation's name,
    /// so `audit verify` can tell a removed or replaced attestation.
    package static func verify(_ repository: Repository, _ record: SnapshotRecord, verifier: Verifier,
                               lock lockOptions: RepositoryLock.Options) throws -> VerifyOutcome {
        try RepositoryLock.with(repository, operation: "verify", source: record.manifest.source, exclusive: false, options: lockOptions) { _ in
            try audited(repository, "verify", source: record.manifest.source, details: {
                [AuditDetail.snapshot: .string(record.id), AuditDetail.attestation: .string($0.name),
                 "outcome": .string($0.attestation.outcome.rawValue)]
            }, result: { $0.attestation.outcome == .passed ? .ok : .failed }) {
                let a = try verifier.verify(record)
                return VerifyOutcome(attestation: a, name: try repository.storeAttestation(a))
            }
        }
    }
}
