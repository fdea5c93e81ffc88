import Foundation
import LifeboatCore
import LifeboatStorage

/// What `lifeboat verify` found when it restored a snapshot into scratch space and ran
/// SQLite's own checks on it: a property of the captured image, recorded once, so that later
/// restores can prove they rebuilt that very image (every page authenticated, the page list
/// matching the manifest's image digest) instead of checking it again.
///
/// Stored encrypted and authenticated under attestations/ (the kind is in the associated
/// data, so no other object can pass for one), named by the SHA-256 of its stored bytes like
/// every object. It is bound to its image by the snapshot id and the image digest it holds:
/// an attestation is used only for the snapshot and digest it names, so one moved, copied or
/// replayed beside another snapshot proves nothing for it. Never overwritten; prune removes
/// those whose snapshot is gone.
public struct Attestation: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        case passed
        case failed
    }

    public var version: Int = 1
    /// The manifest's id (the SHA-256 name of the snapshot object).
    public var snapshot: String
    public var source: String
    /// The manifest's image digest: the HMAC over every page id, in order.
    public var imageDigest: String
    public var outcome: Outcome
    /// What failed, first problems only (SQLite's lines, or why the image could not be rebuilt).
    public var problems: [String]
    /// "ok", "none" (the schema declares no foreign keys) or "failed".
    public var foreignKeys: String
    public var checkedAtMs: Int64
    public var seconds: Double
    public var toolVersion: String
    public var host: String

    public init(snapshot: String, source: String, imageDigest: String, outcome: Outcome, problems: [String], foreignKeys: String,
                checkedAtMs: Int64, seconds: Double, toolVersion: String = LifeboatVersion.current, host: String = HostIdentity.hostName) {
        self.snapshot = snapshot
        self.source = source
        self.imageDigest = imageDigest
        self.outcome = outcome
        self.problems = problems
        self.foreignKeys = foreignKeys
        self.checkedAtMs = checkedAtMs
        self.seconds = seconds
        self.toolVersion = toolVersion
        self.host = host
    }

    /// Whether this attestation speaks for `record`'s image.
    public func binds(_ record: SnapshotRecord) -> Bool {
        snapshot == record.id && imageDigest == record.manifest.imageDigest
    }

    package static func decode(_ plain: [UInt8]) throws -> Attestation {
        do {
            let a = try JSONCoding.decoder().decode(Attestation.self, from: Data(plain))
            guard a.version == 1 else { throw LifeboatError(.corrupt, "attestation format \(a.version) is newer than this lifeboat; upgrade it") }
            return a
        } catch let e as LifeboatError {
            throw e
        } catch {
            throw LifeboatError(.corrupt, "an attestation authenticates but does not decode: it was written by a damaged or foreign tool")
        }
    }
}

/// One stored attestation: its object name and what it says.
public struct AttestationRecord: Sendable {
    public let name: String
    public let attestation: Attestation
}

extension Repository {
    /// Stores an attestation (never overwriting anything); returns its object name.
    @discardableResult
    public func storeAttestation(_ a: Attestation) throws -> String {
        try storeObject(.attestations, try JSONCoding.encode(a)).key.name
    }

    /// Every attestation, oldest check first. A damaged one is reported to `damaged` (check,
    /// status) or thrown when no handler is given.
    public func listAttestations(damaged: ((String, LifeboatError) -> Void)? = nil) throws -> [AttestationRecord] {
        var out: [AttestationRecord] = []
        for info in try backend.list(.attestations) {
            do {
                out.append(AttestationRecord(name: info.key.name, attestation: try Attestation.decode(try loadObject(info.key))))
            } catch let e as LifeboatError {
                guard let damaged else { throw e }
                damaged(info.key.name, e)
            }
        }
        return out.sorted { ($0.attestation.checkedAtMs, $0.name) < ($1.attestation.checkedAtMs, $1.name) }
    }

    /// The newest attestation bound to this snapshot's image, if any. Attestations that do not
    /// authenticate are skipped here (they prove nothing; `check` reports them).
    public func attestation(for record: SnapshotRecord, among all: [AttestationRecord]? = nil) throws -> Attestation? {
        let all = try all ?? listAttestations(damaged: { _, _ in })
        return all.last { $0.attestation.binds(record) }?.attestation
    }
}
