import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension Snapshotter {
    /// Packs this run's size check found missing or truncated (see PackTrust): recorded in the
    /// repository, so restores prefer other copies and every later run knows without a listing
    /// being wrong again, and told once. The snapshot itself stores their pages again and is whole.
    package func reportDamageFound(_ known: KnownBlobs) {
        let found = known.damageFound
        guard !found.isEmpty else { return }
        repo.recordPackStatesOrWarn(damaged: found, evidence: found.mapValues { _ in .listing }, operation: "snapshot")
        let shown = found.values.sorted().prefix(3).joined(separator: "; ")
        Warnings.emit("\(found.count) pack(s) are damaged or missing (\(shown)\(found.count > 3 ? "; …" : "")): this snapshot stores their pages again; older snapshots that need them stay damaged until 'lifeboat repair' (see 'lifeboat check')")
    }
}
