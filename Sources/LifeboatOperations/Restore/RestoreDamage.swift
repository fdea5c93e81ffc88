import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension Restorer {
    /// A pack no copy could serve: remembered for the damage ledger, and the error reworded to
    /// name what fixes it (the backends' own messages point at `check`, which only finds it).
    package static func noteDamagedPack(_ name: String, _ e: LifeboatError, in damageFound: Locked<[String: (problem: String, evidence: DamageRecord.Evidence)]>) -> LifeboatError {
        var reason = e.message
        for hint in ["; run 'lifeboat check'", " run 'lifeboat check'"] where reason.hasSuffix(hint) { reason.removeLast(hint.count) }
        damageFound.withLock { $0[name] = ("pack \(name.prefix(8)) cannot be read: \(reason)", e.kind == .notFound ? .listing : .content) }
        return LifeboatError(e.kind, "pack \(name.prefix(8)) cannot be read (\(reason)); it is recorded as damaged: 'lifeboat repair' stores its pages again from the live database or another copy, or restore another snapshot")
    }

    /// Records the packs this restore found damaged, so later snapshots store their pages again
    /// and restores prefer other copies. A restore with read-only rights only warns.
    package func recordDamageFound() {
        let found = damageFound.current
        guard !found.isEmpty else { return }
        repo.recordPackStatesOrWarn(damaged: found.mapValues(\.problem), evidence: found.mapValues(\.evidence), operation: "restore")
    }
}
