import LifeboatCore
import LifeboatStorage

/// The page table of a snapshot: which blob holds each page.
///
/// Stored in two layers so that metadata grows with what changed, not with the database:
/// - a *base*: leaf blobs of `fanout` ids each (content-addressed, so unchanged leaves are
///   shared between bases) and a root blob listing the leaves;
/// - a *delta*: the pages whose blob differs from the base, as (page index, id) pairs.
/// A snapshot references a base and, usually, a delta against it. When the delta would grow
/// past a fraction of the table, the next snapshot writes a new base instead (only changed
/// leaves are new). Restore reads one base and at most one delta: no chains.
public enum PageTableFormat {
    package static let rootMagic: [UInt8] = Array("LBRT".utf8)
    package static let deltaMagic: [UInt8] = Array("LBDT".utf8)

    public struct Root: Sendable, Equatable {
        public var pageCount: Int
        public var pageSize: Int
        public var fanout: Int
        public var leaves: [BlobID]

        package init(pageCount: Int, pageSize: Int, fanout: Int, leaves: [BlobID]) {
            self.pageCount = pageCount
            self.pageSize = pageSize
            self.fanout = fanout
            self.leaves = leaves
        }
    }

    public static func encodeRoot(_ root: Root) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + root.leaves.count * 16)
        w.raw(rootMagic)
        w.u32(1)
        w.u64(UInt64(root.pageCount))
        w.u32(UInt32(root.pageSize))
        w.u32(UInt32(root.fanout))
        w.u32(UInt32(root.leaves.count))
        for id in root.leaves { w.id(id) }
        return w.bytes
    }

    public static func decodeRoot(_ bytes: [UInt8]) throws -> Root {
        var r = ByteReader(bytes, what: "page table root")
        guard try r.raw(4) == rootMagic, try r.u32() == 1 else { throw LifeboatError(.corrupt, "page table root has an unknown format") }
        // SQLite's own limit is 2^32 - 2 pages.
        let pageCount = try r.int(max: Int(UInt32.max))
        let pageSize = Int(try r.u32())
        let fanout = Int(try r.u32())
        let n = try r.count(elementSize: 16)
        guard fanout > 0, pageCount >= 0, n == (pageCount + fanout - 1) / fanout else {
            throw LifeboatError(.corrupt, "page table root is inconsistent")
        }
        var leaves: [BlobID] = []
        leaves.reserveCapacity(n)
        for _ in 0..<n { leaves.append(try r.id()) }
        return Root(pageCount: pageCount, pageSize: pageSize, fanout: fanout, leaves: leaves)
    }

    public static func decodeLeaf(_ bytes: [UInt8], expectedCount: Int) throws -> [BlobID] {
        guard bytes.count == expectedCount * 16 else { throw LifeboatError(.corrupt, "page table leaf has the wrong size") }
        var r = ByteReader(bytes, what: "page table leaf")
        var ids: [BlobID] = []
        ids.reserveCapacity(expectedCount)
        for _ in 0..<expectedCount { ids.append(try r.id()) }
        return ids
    }

    /// Delta entries sorted by page index.
    public static func encodeDelta(_ entries: [(page: UInt32, id: BlobID)]) -> [UInt8] {
        var w = ByteWriter(capacity: 12 + entries.count * 20)
        w.raw(deltaMagic)
        w.u32(1)
        w.u32(UInt32(entries.count))
        for e in entries {
            w.u32(e.page)
            w.id(e.id)
        }
        return w.bytes
    }

    public static func decodeDelta(_ bytes: [UInt8], pageCount: Int) throws -> [(page: UInt32, id: BlobID)] {
        var r = ByteReader(bytes, what: "page table delta")
        guard try r.raw(4) == deltaMagic, try r.u32() == 1 else { throw LifeboatError(.corrupt, "page table delta has an unknown format") }
        let n = try r.count(elementSize: 20)
        var out: [(page: UInt32, id: BlobID)] = []
        out.reserveCapacity(n)
        var last: Int64 = -1
        for _ in 0..<n {
            let p = try r.u32()
            guard Int64(p) > last, Int(p) < pageCount else { throw LifeboatError(.corrupt, "page table delta is out of order or out of range") }
            last = Int64(p)
            out.append((p, try r.id()))
        }
        return out
    }
}
