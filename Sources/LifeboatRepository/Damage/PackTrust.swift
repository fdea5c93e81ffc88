import LifeboatCore
import LifeboatStorage

/// Which packs a run may rely on: not those the damage ledger calls damaged, nor (when the
/// data listing was taken) those missing from it or of another size than their index file
/// records. The size check is what `check` verifies of every pack without reading it, and
/// costs one listing of data/; it is what catches a truncated pack before anything builds on it.
/// A pack the ledger calls damaged only from an earlier listing (see DamageRecord.Evidence)
/// and that this listing shows whole is trusted again (`healed`).
///
/// Take the listing after listing index/: every pack an index file names was stored before
/// that index file, so it is in a later listing unless it was lost since.
package struct PackTrust: Sendable {
    package let ledger: DamageLedger
    private let present: [String: Int]?
    /// Packs this run found missing or of the wrong size, with why.
    package private(set) var found: [String: String] = [:]
    /// Every pack judged untrusted so far (ledger and size check alike).
    package private(set) var distrusted: Set<String> = []
    /// Packs the ledger calls damaged from a listing that this listing shows whole.
    package private(set) var healed: Set<String> = []

    package init(ledger: DamageLedger, listing: [ObjectInfo]?) {
        self.ledger = ledger
        present = listing.map { l in Dictionary(l.map { ($0.key.name, $0.size) }, uniquingKeysWith: { a, _ in a }) }
        // Damage seen in a listing is judged again against this one, pack by pack (`judge`).
        distrusted = Set(ledger.packs.filter { $0.value.state == .damaged && (listing == nil || $0.value.evidence == .content) }.keys)
    }

    /// Size of a pack in the listing (nil: missing, or no listing taken).
    package func listedSize(_ name: String) -> Int? { present?[name] }
    package var listed: Bool { present != nil }

    /// Judges one pack an index file lists; returns whether it is trusted.
    @discardableResult
    package mutating func judge(_ name: String, indexedSize: Int) -> Bool {
        if let present, found[name] == nil {
            if let size = present[name] {
                if size != indexedSize { found[name] = "pack \(name.prefix(8)) has \(size) bytes, the index says \(indexedSize)" }
            } else {
                found[name] = "pack \(name.prefix(8)) is missing"
            }
        }
        if found[name] != nil {
            distrusted.insert(name)
        } else if present != nil, let o = ledger.packs[name], o.state == .damaged, o.evidence == .listing {
            healed.insert(name)
        }
        return !distrusted.contains(name)
    }

    /// Why a pack is distrusted (nil when it is not).
    package func problem(_ name: String) -> String? {
        found[name] ?? (distrusted.contains(name) ? ledger.damaged[name] : nil)
    }
}

extension Repository {
    /// The ledger, and the data listing when `checkSizes` (one LIST of data/).
    package func packTrust(checkSizes: Bool) throws -> PackTrust {
        let ledger = try loadDamageLedger()
        return PackTrust(ledger: ledger, listing: checkSizes ? try backend.list(.data) : nil)
    }
}
