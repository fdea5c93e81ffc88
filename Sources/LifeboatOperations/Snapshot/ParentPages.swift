import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The parent snapshot's page ids, read in page order as the capture goes (its page table, 64
/// leaves at a time), so that a page with the same id as the parent's page at the same place is
/// known stored without asking the repository's id set: after a small change nearly every page
/// is one, and a "maybe" from that set can cost a disk read (see KnownBlobs).
///
/// Only a parent sealed with the same keys is used (its ids are comparable). Its pages stay
/// stored while this run goes on: prune keeps every page of every snapshot it keeps, and it
/// cannot run while a snapshot holds the repository lock.
package final class ParentPages {
    private let cursor: PageTableCursor
    private let pageCount: Int
    /// Ids of pages `start ..< start + ids.count`.
    private var ids: [BlobID] = []
    private var start = 0
    /// Pages read from the table at a time (16 bytes each: 1 MiB).
    package static let chunkPages = 1 << 16

    package init(repo: Repository, tables: BlobIndex, codec: BlobCodec, manifest: Manifest) throws {
        cursor = try PageTableCursor(repo: repo, index: tables, codec: codec, manifest: manifest)
        pageCount = manifest.pageCount
    }

    /// Writes the parent's ids of pages `first ..< first + count` into `out` and returns how
    /// many there are (fewer when the parent had fewer pages). Pages must be asked for in order.
    package func fill(from first: Int, count: Int, into out: UnsafeMutableBufferPointer<BlobID>) throws -> Int {
        let end = min(first + count, pageCount, first + out.count)
        var page = first
        while page < end {
            if page >= start + ids.count {
                guard page == cursor.position else {
                    throw LifeboatError(.internalError, "parent page ids asked for out of order (page \(page + 1), table at \(cursor.position + 1))")
                }
                start = cursor.position
                ids = try cursor.next(Self.chunkPages)
                // Every id of the parent is read by now: the whole table must match its digest.
                if cursor.position == pageCount { try cursor.verify() }
            }
            guard page >= start else {
                throw LifeboatError(.internalError, "parent page ids asked for out of order (page \(page + 1) is behind)")
            }
            let k = min(end, start + ids.count) - page
            for i in 0..<k { out[page - first + i] = ids[page - start + i] }
            page += k
        }
        return max(0, end - first)
    }
}
