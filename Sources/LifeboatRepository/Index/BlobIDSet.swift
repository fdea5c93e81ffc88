import LifeboatCore
import LifeboatStorage

/// A set of blob ids in flat arrays (16 bytes a slot, open addressing): the ids a snapshot run
/// added last, before KnownBlobs spills them to disk. Dedup needs to know only whether an id
/// is stored, not where, so the index's locations (21 bytes more a slot) are not kept for it.
package struct BlobIDSet {
    private var his: [UInt64]
    private var los: [UInt64]
    /// (0, 0) marks an empty slot, so the zero id is remembered on the side.
    private var hasZero = false
    package private(set) var count = 0

    package init(capacity: Int) {
        let cap = max(1024, capacity * 4 / 3 + 1)
        his = Array(repeating: 0, count: cap)
        los = Array(repeating: 0, count: cap)
    }

    private func slot(_ id: BlobID) -> (found: Bool, index: Int) {
        let cap = his.count
        var i = Int(truncatingIfNeeded: id.lo.multipliedFullWidth(by: UInt64(cap)).high)
        while his[i] != 0 || los[i] != 0 {
            if his[i] == id.hi && los[i] == id.lo { return (true, i) }
            i += 1
            if i == cap { i = 0 }
        }
        return (false, i)
    }

    package func contains(_ id: BlobID) -> Bool {
        id == .zero ? hasZero : slot(id).found
    }

    package mutating func insert(_ id: BlobID) {
        if id == .zero {
            if !hasZero { count += 1 }
            hasZero = true
            return
        }
        if (count + 1) * 4 > his.count * 3 { grow() }
        let s = slot(id)
        if s.found { return }
        his[s.index] = id.hi
        los[s.index] = id.lo
        count += 1
    }

    private mutating func grow() {
        var bigger = BlobIDSet(capacity: his.count * 3 / 2)
        for i in 0..<his.count where his[i] != 0 || los[i] != 0 { bigger.insert(BlobID(his[i], los[i])) }
        if hasZero { bigger.insert(.zero) }
        self = bigger
    }

    /// Every id, in no order.
    package func forEach(_ body: (BlobID) throws -> Void) rethrows {
        if hasZero { try body(.zero) }
        for i in 0..<his.count where his[i] != 0 || los[i] != 0 { try body(BlobID(his[i], los[i])) }
    }

    /// Empties the set, keeping its room.
    package mutating func removeAll() {
        his.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        los.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        hasZero = false
        count = 0
    }
}
