import Foundation
import LifeboatCore
import LifeboatRepository
import LifeboatOperations

/// The restore after a drill that replicated: a state, not a snapshot. `restore latest` (or
/// `--at` just before a mistaken statement) as the command line does it: the base snapshot,
/// then the shipped transactions after it replayed, then SQLite's integrity_check.
extension DrillRunner {
    package static let replayPhase = "replay shipped transactions"

    package struct ReplayedRestore {
        package var result: RestoreResult
        /// The base snapshot the transactions were replayed over.
        package var record: SnapshotRecord
        package var workers: Int
    }

    /// `before-disaster` means the state after the last transaction replicate saw before the
    /// damage was done (for a statement: before its commit); transactions are dated by the
    /// commit clock's first look that saw them (every 10 ms), so commits within that look of
    /// the statement go with it.
    package func restoreReplicated(_ choice: Scenario.SnapshotChoice, repository: Repository, to target: String, struckAtMs: Int64,
                                   from start: Double, into phases: inout [DrillReport.Phase]) throws -> ReplayedRestore {
        var spec: String?
        var at: Date?
        switch choice {
        case .latest: break
        case .beforeDisaster: at = Date(unixMilliseconds: struckAtMs - 1)
        case .id(let id): spec = id
        }
        var options = Restorer.Options()
        options.force = true
        let result = try UseCase.restore(repository, spec: spec, at: at, source: scenario.source.name, to: target, options: options,
                                         integrity: .always, auditDirectory: scratch + "/audit")
        // The use case finds the base snapshot and the segments before the restorer's own phases.
        let shown = ["locate", "fetch_decrypt_write", "replay", "integrity_check", "rename"].reduce(0.0) { $0 + (result.phases[$1] ?? 0) }
        let find = max(0, now - start - shown)
        phases.append(.init(name: "find snapshot", seconds: find))
        event("find snapshot", "recovery", from: start, to: start + find)
        appendRestorePhases(result, from: start + find, into: &phases)
        let record = try repository.findSnapshot(result.snapshot, source: scenario.source.name)
        return ReplayedRestore(result: result, record: record, workers: Restorer(repository: repository, options: options).workers)
    }
}
