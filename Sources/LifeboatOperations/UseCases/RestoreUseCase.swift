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
                                to target: String, options: Restorer.Options, integrity: IntegrityMode = .auto,
                                auditDirectory: String? = nil) throws -> RestoreResult {
        try audited(repository, "restore", source: source, auditDirectory: auditDirectory, details: {
            ["snapshot": .string($0.snapshot), "snapshot_source": .string($0.source), "pages": .int($0.pages),
             "bytes": .int($0.bytes), "target": .string($0.target), "integrity": .string($0.integrity)]
        }) {
            // 'latest' and --at mean a state, which transactions shipped by `replicate` may
            // carry past the newest snapshot; an id means that snapshot.
            let replay = (spec == nil || spec == "latest") ? try replayPlan(repository, at: time, source: source) : nil
            let record = try replay?.base ?? findSnapshot(repository, spec: spec, at: time, source: source)
            var opts = options
            var note: String? = nil
            let outcome = Locked<SegmentReplay.Outcome?>(nil)
            if let replay, !replay.segments.isEmpty {
                let replayer = SegmentReplay(repo: repository, source: record.manifest.source, plan: replay)
                let pageSize = record.manifest.pageSize
                opts.replay = { fd, path in
                    let o = try replayer.apply(fd: fd, path: path, pageSize: pageSize)
                    outcome.withLock { $0 = o }
                }
            }
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
            if opts.replay != nil && integrity != .never && !opts.integrityCheck {
                // Replayed transactions make an image no `verify` has seen: SQLite checks it.
                opts.integrityCheck = true
                note = nil
            }
            var result = try Restorer(repository: repository, options: opts).restore(record, to: target)
            if let o = outcome.current {
                result.replayedTransactions = o.transactions
                result.replayedSegments = o.segments
                result.pages = o.pageCount
                result.bytes = o.pageCount * record.manifest.pageSize
                result.stateTime = RFC3339.format(Date(unixMilliseconds: o.lastTimeMs ?? record.manifest.timeMs), fractional: true)
            }
            if !opts.integrityCheck { result.integrity = integrity == .never ? "unchecked" : "attested" }
            result.integrityNote = note ?? "integrity_check ok, \(String(format: "%.1f", result.phases["integrity_check"] ?? 0)) s"
            return result
        }
    }

    /// The way to the state a restore means when the source has transactions shipped by
    /// `replicate`; nil when it has none (the newest snapshot at or before the time is it).
    private static func replayPlan(_ repository: Repository, at time: Date?, source: String?) throws -> ReplicationTimeline.Plan? {
        // No source to pick (or no snapshot at all): the usual lookup says so.
        guard let name = try? onlySource(repository, given: source), !(try repository.listSegments(source: name)).isEmpty else { return nil }
        return try ReplicationTimeline.plan(repository, source: name, at: time)
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
