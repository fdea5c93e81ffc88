import LifeboatCore
import LifeboatStorage

/// One range read of a pack covering several blobs: neighbours whose gap is at most `maxGap`
/// are read through (one round trip instead of several), up to `maxSpan` bytes a range. Used
/// by restore for pages and by `readBlobs` for page-table blobs.
package struct PackRange {
    package var pack: UInt32
    package var start: Int
    package var end: Int
    /// The positions, in the sorted list planned from, of the blobs it covers.
    package var members: Range<Int>

    /// Ranges over `count` blobs sorted by pack, then offset; `blob(i)` is where the i-th is.
    package static func plan(count: Int, maxGap: Int, maxSpan: Int,
                     _ blob: (Int) -> (pack: UInt32, offset: UInt32, length: UInt32)) -> [PackRange] {
        var ranges: [PackRange] = []
        var i = 0
        while i < count {
            let head = blob(i)
            var end = Int(head.offset) + Int(head.length)
            var j = i + 1
            while j < count {
                let b = blob(j)
                let o = Int(b.offset), e = o + Int(b.length)
                guard b.pack == head.pack, o - end <= maxGap, max(e, end) - Int(head.offset) <= maxSpan else { break }
                end = max(end, e)
                j += 1
            }
            ranges.append(PackRange(pack: head.pack, start: Int(head.offset), end: end, members: i..<j))
            i = j
        }
        return ranges
    }
}
