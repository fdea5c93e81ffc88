import Foundation
import LifeboatCore
import LifeboatRepository

extension UseCase {
    /// Which snapshot a restore means: `--at TIME` (the newest at or before it), an id, or
    /// "latest". `source` may be nil when the repository holds one source only. A snapshot
    /// that is gone because its source was shredded says so.
    package static func findSnapshot(_ repository: Repository, spec: String?, at time: Date?, source: String?) throws -> SnapshotRecord {
        do {
            if let time {
                return try repository.findSnapshot(at: time, source: try onlySource(repository, given: source))
            }
            let spec = spec ?? "latest"
            return try repository.findSnapshot(spec, source: spec == "latest" ? try onlySource(repository, given: source) : source)
        } catch let e as LifeboatError where e.kind == .notFound {
            throw repository.explainingShred(e, source: source)
        }
    }

    /// The given source, or the repository's only one.
    package static func onlySource(_ repository: Repository, given source: String?) throws -> String {
        if let source { return source }
        let sources = Set(try repository.listSnapshots().map(\.manifest.source))
        guard sources.count == 1, let only = sources.first else {
            if sources.isEmpty { throw LifeboatError(.notFound, "the repository has no snapshots") }
            throw LifeboatError(.usage, "the repository holds several sources (\(sources.sorted().joined(separator: ", "))); pass --source")
        }
        return only
    }

    /// When a restore runs SQLite's `PRAGMA integrity_check` on the rebuilt file.
    package enum IntegrityMode: String, CaseIterable, Sendable {
        /// Skip it when `lifeboat verify` attested the image (the restore proves, page by page
        /// and by the image digest, that it rebuilt that very image); run it otherwise.
        case auto
        case always
        case never
    }

    /// Restores a snapshot to a file, audited (restore takes no lock: it only reads, and a
    /// prune that removed a pack midway shows as a read error, never as a wrong file).
    /// An image whose attestation failed is refused unless `force` (which also allows
    /// replacing an existing target).
    package static func restore(_ repository: Repository, spec: String?, at time: Date?, source: String?,
                                to target: String, options: Restorer.Options, integrity: IntegrityMode = .auto) throws -> RestoreResult {
        try audited(repository, "restore", source: source, details: {
            ["snapshot": .string($0.snapshot), "snapshot_source": .string($0.source), "pages": .int($0.pages),
             "bytes": .int($0.bytes), "target": .string($0.target), "integrity": .string($0.integrity)]
        }) {
            let record = try findSnapshot(repository, spec: spec, at: time, source: source)
            var opts = options
            var note: String? = nil
            switch integrity {
            case .always:
                opts.integrityCheck = true
            case .never:
                opts.integrityCheck = false
                note = "integrity_check not run (--integrity-check never); every page authenticated"
            case .auto:
                let attested = try repository.attestation(for: record)
                switch attested?.outcome {
                case .passed?:
                    opts.integrityCheck = false
                case .failed?:
                    guard options.force else {
                        throw LifeboatError(.corrupt, "snapshot \(record.shortID) failed 'lifeboat verify' at \(attested.map(Self.when) ?? "?") (\(attested?.problems.first ?? "no detail")): restore an older snapshot, or pass --force to restore it anyway")
                    }
                    opts.integrityCheck = false
                case nil:
                    opts.integrityCheck = true
                }
                if let attested { note = attestedNote(attested) }
            }
            var result = try Restorer(repository: repository, options: opts).restore(record, to: target)
            if !opts.integrityCheck { result.integrity = integrity == .never ? "unchecked" : "attested" }
            result.integrityNote = note ?? "integrity_check ok, \(String(format: "%.1f", result.phases["integrity_check"] ?? 0)) s"
            return result
        }
    }

    private static func when(_ a: Attestation) -> String {
        RFC3339.format(Date(unixMilliseconds: a.checkedAtMs))
    }

    private static func attestedNote(_ a: Attestation) -> String {
        switch a.outcome {
        case .passed: return "verified \(when(a)) by lifeboat verify on \(a.host); every page authenticated"
        case .failed: return "restored despite failed verification at \(when(a)) (--force)"
        }
    }
}
