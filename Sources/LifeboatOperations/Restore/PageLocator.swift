import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Finds where the pages of a snapshot are stored, a window of pages at a time, without
/// building the repository's whole index: at about 50 bytes a blob, that index was the largest
/// thing a restore held, and it grows with everything the repository keeps, not with the
/// snapshot restored.
///
/// Made once: the pack names and the page table's own blobs (root, leaves, delta: a few
/// hundred entries a GiB), from one pass over the index files, one file decoded at a time.
/// Then for each window: the window's page ids from the table, a lookup of page numbers keyed
/// by those ids (4 bytes a slot), and one more pass over the index files that keeps the
/// entries the window uses and drops the rest as they are read. What it holds is the window's
/// ids (16 bytes a page), lookup (about 9) and pieces (20), whatever the database's size.
package final class PageLocator {
    package struct Located {
        /// The first page of the window; `ids[i]` is page `first + i`'s id.
        package var first: Int
        package var ids: [BlobID]
        package var pieces: [Restorer.Piece]
    }

    private let repo: Repository
    private let files: [ObjectInfo]
    private let tables: BlobIndex
    private let cursor: PageTableCursor
    private let pageCount: Int
    /// By pack number: recorded damaged.
    private let distrusted: [Bool]

    package init(repo: Repository, keys: MasterKeys, manifest m: Manifest) throws {
        self.repo = repo
        files = try repo.backend.list(.index)
        var tables = BlobIndex(capacity: 1024)
        // Packs recorded damaged are read only for blobs no other pack holds (a repair stores
        // such blobs again elsewhere). No listing of data/ here: it would cost a restore time.
        tables.distrust(try repo.loadDamageLedger().damaged.keys)
        for info in files { tables.add(try repo.loadIndexFile(info)) { !$0.type.isPage } }
        self.tables = tables
        distrusted = tables.packs.indices.map { tables.isDistrusted(pack: UInt32($0)) }
        pageCount = m.pageCount
        cursor = try PageTableCursor(repo: repo, index: tables, codec: try BlobCodec(keys: keys), manifest: m)
    }

    /// Pack names, by the numbers pieces use.
    package var packs: [String] { tables.packs }

    /// Whether every page has been located.
    package var isDone: Bool { cursor.position >= pageCount }

    /// The next `count` pages: their ids and where each is stored. The page table's image
    /// digest is checked as soon as the last page's id is read, before its pages are fetched.
    /// A rest of at most an eighth of `count` joins this window rather than costing one more
    /// pass over the index files (a "1 GiB" database is often a little over 2^18 pages).
    package func next(_ count: Int) throws -> Located {
        let first = cursor.position
        let rest = pageCount - first
        let ids = try cursor.next(rest - count <= count / 8 ? rest : count)
        if isDone { try cursor.verify() }

        // Identical pages (ids) share a lookup slot and are chained.
        let unlocated = UInt32.max
        var pieces = [Restorer.Piece](repeating: Restorer.Piece(pack: unlocated, offset: 0, length: 0, page: 0, type: .page, slot: 0), count: ids.count)
        let lookup = PageLookup(ids: ids)
        var missing = ids.count
        // Pages located so far only in a pack recorded damaged: the search goes on for them.
        var weak = 0
        for info in files where missing > 0 || weak > 0 {
            for p in try repo.loadIndexFile(info).packs {
                guard let n = tables.packNumber(p.name) else { continue }
                let bad = distrusted[Int(n)]
                for e in p.entries where e.type.isPage {
                    lookup.forEachPage(of: e.id, in: ids) { i in
                        // The first location recorded for an id wins (duplicates are copies),
                        // unless it is in a damaged pack and this one is not.
                        if pieces[i].pack == unlocated {
                            missing -= 1
                            if bad { weak += 1 }
                        } else if !bad && distrusted[Int(pieces[i].pack)] {
                            weak -= 1
                        } else {
                            return
                        }
                        pieces[i] = Restorer.Piece(pack: n, offset: e.offset, length: e.length, page: Int32(first + i), type: e.type, slot: e.slot)
                    }
                }
            }
        }
        if missing > 0, let i = pieces.firstIndex(where: { $0.pack == unlocated }) {
            throw LifeboatError(.corrupt, "page \(first + i + 1) of the snapshot is in no index (blob \(ids[i].hex.prefix(16))): data is missing; run 'lifeboat check' and restore an older snapshot or from a replica")
        }
        return Located(first: first, ids: ids, pieces: pieces)
    }
}

/// Page numbers in an open-addressing table keyed by their ids (looked up in the snapshot's id
/// list, so a slot is 4 bytes). Pages sharing an id (zeroed free pages, often by the thousand)
/// take one slot and are chained through `next`: a run of equal keys would make every probe
/// that lands in it walk its length.
package struct PageLookup {
    private var slots: [UInt32]
    private var next: [UInt32]
    private static let none = UInt32.max

    package init(ids: [BlobID]) {
        slots = Array(repeating: Self.none, count: max(16, ids.count * 4 / 3 + 1))
        next = Array(repeating: Self.none, count: ids.count)
        // Backwards, so each chain lists its pages in ascending order.
        for page in ids.indices.reversed() {
            let id = ids[page]
            var i = home(id)
            while slots[i] != Self.none, ids[Int(slots[i])] != id { i = i + 1 == slots.count ? 0 : i + 1 }
            next[page] = slots[i]
            slots[i] = UInt32(page)
        }
    }

    private func home(_ id: BlobID) -> Int {
        Int(truncatingIfNeeded: id.lo.multipliedFullWidth(by: UInt64(slots.count)).high)
    }

    /// Calls `body` with every page whose id is `id`.
    package func forEachPage(of id: BlobID, in ids: [BlobID], _ body: (Int) -> Void) {
        var i = home(id)
        while slots[i] != Self.none {
            if ids[Int(slots[i])] == id {
                var page = slots[i]
                while page != Self.none {
                    body(Int(page))
                    page = next[Int(page)]
                }
                return
            }
            i = i + 1 == slots.count ? 0 : i + 1
        }
    }
}
