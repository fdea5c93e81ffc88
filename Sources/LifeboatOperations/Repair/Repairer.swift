import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Repairs one copy of a repository, under its exclusive lock:
/// 1. `check` (with `readData`, reading every pack) finds what is damaged or missing, and
///    records damaged packs in the damage ledger;
/// 2. with other copies, each damaged or missing object is put back from the first copy that
///    holds it intact (a damaged one is deleted first: prune role), and the packs put back are
///    recorded whole again;
/// 3. blobs that live only in damaged packs but still authenticate are copied, still sealed,
///    into new packs (a flipped bit loses one frame, not a pack);
/// 4. every page a snapshot needs that is still in no intact pack is looked for in the live
///    databases (pages are identified by keyed hashes of their content, so an unchanged page
///    has the same id today) and stored again;
/// 5. new packs get index files of their own, and the report says, per snapshot, which pages
///    are nowhere any more.
/// Nothing is rewritten: damaged packs stay (the ledger keeps later runs off them) until prune
/// deletes them once nothing needs them.
public final class Repairer {
    public struct Options: Sendable {
        /// Live databases to take lost pages from.
        public var databases: [String] = []
        /// Other copies of the repository to take damaged or missing objects from.
        public var copies: [any Backend] = []
        public var readData = false
        public var progress: (@Sendable (String) -> Void)? = nil
        public init() {}
    }

    package let repo: Repository
    package let options: Options

    public init(repository: Repository, options: Options) {
        self.repo = repository
        self.options = options
    }

    public func run() throws -> RepairReport {
        let started = Date()
        options.progress?("checking \(repo.backend.location)\(options.readData ? " (reading every pack)" : "")")
        let survey = try Checker(repository: repo).run(readData: options.readData)
        var report = RepairReport(location: repo.backend.location, damagedObjects: survey.damagedObjects, fromCopies: nil,
                                  salvagedBlobs: 0, fromDatabases: [:], databaseErrors: [:], packsWritten: 0, bytesAdded: 0,
                                  stillDamaged: [], ok: false, seconds: 0)

        if !options.copies.isEmpty && !survey.damagedObjects.isEmpty {
            let keys = survey.damagedObjects.compactMap { LocalBackend.key(fromPath: $0) }
            let result = ObjectReplacer.replace(keys, in: repo.backend, from: options.copies, progress: options.progress)
            let whole = Set((result.replaced + result.copied).compactMap { LocalBackend.key(fromPath: $0) }.filter { $0.kind == .data }.map(\.name))
            if !whole.isEmpty { try repo.recordPackStates(damaged: [:], whole: whole, operation: "repair") }
            report.fromCopies = result
        }

        // The index as it is now, blobs of damaged packs yielding to any other copy.
        var index = try loadTrustedIndex()
        let writer = RepairPacks(repo: repo)
        report.salvagedBlobs = try salvage(&index, into: writer)
        if report.salvagedBlobs > 0 { for p in try writer.finish() { index.add(IndexFile(packs: [p])) } }

        // Which pages of which snapshots have no intact copy; the ids wanted, by key.
        var lost = try lostPages(index)
        if !lost.wanted.isEmpty {
            for path in options.databases {
                options.progress?("looking for \(lost.wanted.values.reduce(0) { $0 + $1.ids.count }) lost page(s) in \(path)")
                do {
                    let found = try restorePages(from: path, wanted: &lost.wanted, into: writer)
                    report.fromDatabases[path] = found
                } catch let e as LifeboatError {
                    report.databaseErrors[path] = e.message
                }
                if lost.wanted.allSatisfy({ $0.value.ids.isEmpty }) { break }
            }
            _ = try writer.finish()
        }
        report.packsWritten = writer.packs
        report.bytesAdded = writer.bytes
        let remaining = Set(lost.wanted.values.flatMap(\.ids))
        for s in lost.snapshots {
            if let problem = s.problem {
                report.stillDamaged.append(.init(id: s.record.id, source: s.record.source, time: s.record.time, pages: nil, pageCount: 0, problem: problem))
                continue
            }
            let pages = s.pages.filter { remaining.contains($0.id) }.map(\.page)
            guard !pages.isEmpty else { continue }
            report.stillDamaged.append(.init(id: s.record.id, source: s.record.source, time: s.record.time,
                                             pages: RepairReport.ranges(pages), pageCount: pages.count, problem: nil))
        }
        report.ok = report.stillDamaged.isEmpty
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Every index file that reads, with packs the ledger calls damaged, or missing or of the
    /// wrong size in a listing of data/, distrusted (see PackTrust).
    private func loadTrustedIndex() throws -> BlobIndex {
        let files = try repo.backend.list(.index)
        var trust = try repo.packTrust(checkSizes: true)
        var index = BlobIndex()
        index.distrust(trust.distrusted)
        for info in files {
            guard let file = try? repo.loadIndexFile(info) else { continue }
            for p in file.packs { trust.judge(p.name, indexedSize: p.size) }
            index.distrust(trust.distrusted)
            index.add(file)
        }
        return index
    }

    package struct SnapshotLoss {
        package var record: (id: String, source: String?, time: String?)
        package var pages: [(page: Int, id: BlobID)] = []
        package var problem: String?
    }

    package struct Lost {
        package var snapshots: [SnapshotLoss] = []
        /// By key: the keys' codec and the ids still wanted.
        package var wanted: [KeyTag: (codec: BlobCodec, ids: Set<BlobID>)] = [:]
    }

    /// Reads every snapshot's page table: the pages whose id no intact pack holds.
    private func lostPages(_ index: BlobIndex) throws -> Lost {
        var lost = Lost()
        let records = try repo.listSnapshots { id, e in
            lost.snapshots.append(SnapshotLoss(record: (id, nil, nil), problem: e.message))
        }
        for r in records {
            let m = r.manifest
            var loss = SnapshotLoss(record: (r.id, m.source, RFC3339.format(m.time)))
            do {
                let tag = m.keyTag
                let codec = try lost.wanted[tag]?.codec ?? BlobCodec(keys: repo.keys(for: m))
                let ids = try PageTableReader(repo: repo, index: index, codec: codec).pageIDs(of: m)
                for (page, id) in ids.enumerated() where !index.hasTrustedCopy(id) {
                    loss.pages.append((page, id))
                }
                if !loss.pages.isEmpty {
                    var entry = lost.wanted[tag] ?? (codec, [])
                    entry.ids.formUnion(loss.pages.map(\.id))
                    lost.wanted[tag] = entry
                }
            } catch let e as LifeboatError {
                loss.problem = "its page table cannot be read (\(e.message))"
            }
            if !loss.pages.isEmpty || loss.problem != nil { lost.snapshots.append(loss) }
        }
        return lost
    }
}
