import LifeboatCore
import LifeboatStorage

/// A split-block Bloom filter over blob ids: about 12 bits an id, one 64-byte block (one cache
/// line) read or written an operation, one bit set in each of its eight words. Ids are keyed
/// hashes, already uniform, so their own bits place them: the low half picks the block, six
/// bits of the high half each pick a bit in a word. It answers "certainly not added" or "maybe"
/// (about 1 % of absent ids at the planned size).
package struct BlobBloomFilter {
    private var words: [UInt64]
    private let blocks: Int
    /// How many ids it was sized for; past this its false "maybe"s grow.
    package let planned: Int

    package init(planned: Int) {
        self.planned = max(1024, planned)
        blocks = (self.planned * 12 + 511) / 512
        words = Array(repeating: 0, count: blocks * 8)
    }

    private func block(_ id: BlobID) -> Int {
        Int(truncatingIfNeeded: id.lo.multipliedFullWidth(by: UInt64(blocks)).high) * 8
    }

    package mutating func add(_ id: BlobID) {
        let b = block(id)
        words.withUnsafeMutableBufferPointer { w in
            for j in 0..<8 { w[b + j] |= 1 &<< ((id.hi &>> (6 * UInt64(j))) & 63) }
        }
    }

    package func mayContain(_ id: BlobID) -> Bool {
        let b = block(id)
        return words.withUnsafeBufferPointer { w in
            for j in 0..<8 where w[b + j] & (1 &<< ((id.hi &>> (6 * UInt64(j))) & 63)) == 0 { return false }
            return true
        }
    }
}
