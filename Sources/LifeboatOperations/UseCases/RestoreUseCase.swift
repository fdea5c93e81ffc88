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

    /// Restores a snapshot to a file, audited (restore takes no lock: it only reads, and a
    /// prune that removed a pack midway shows as a read error, never as a wrong file).
    /// `auditSource` is the source the person asked for (nil when they named none).
    package static func restore(_ repository: Repository, spec: String?, at time: Date?, source: String?,
                                to target: String, options: Restorer.Options) throws -> RestoreResult {
        try audited(repository, "restore", source: source, details: {
            ["snapshot": .string($0.snapshot), "snapshot_source": .string($0.source), "pages": .int($0.pages),
             "bytes": .int($0.bytes), "target": .string($0.target)]
        }) {
            let record = try findSnapshot(repository, spec: spec, at: time, source: source)
            return try Restorer(repository: repository, options: options).restore(record, to: target)
        }
    }
}
