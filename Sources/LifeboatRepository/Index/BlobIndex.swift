import LifeboatCore
import LifeboatStorage

/// Where a blob can be read: pack number (into `BlobIndex.packs`), offset, sizes, type.
public struct BlobLocation: Sendable, Equatable {
    public var pack: UInt32
    public var offset: UInt32
    public var length: UInt32
    public var rawLength: UInt32
    public var type: BlobType
    /// Position in its frame (framed pages only).
    public var slot: UInt8 = 0
}

/// The in-memory index of every blob in the repository: an open-addressing hash table keyed by
/// the 128-bit blob id (already uniformly distributed, so its low bits are the hash). Kept as
/// flat arrays rather than a Dictionary: about 40 bytes per blob and no per-entry allocation.
public struct BlobIndex: Sendable {
    public private(set) var packs: [String] = []
    public private(set) var packSizes: [Int] = []
    private var packNumbers: [String: UInt32] = [:]
    private var his: [UInt64]
    private var los: [UInt64]
    private var locations: [BlobLocation]
    private var used: [Bool]
    public private(set) var count = 0
    /// Which index files were loaded, so a new index file need not repeat them.
    public var indexFiles: [String] = []
    /// Packs found damaged or missing: a blob there yields to a copy in any other pack, and
    /// is located there only when no other pack holds it (see DamageLedger).
    public private(set) var distrustedPacks: Set<String> = []

    /// Room for `capacity` blobs at a load of at most 3/4. Any size works (slots are found by
    /// multiply-shift range reduction, not a power-of-two mask), so memory follows the count.
    public init(capacity: Int = 1024) {
        let cap = max(1024, capacity * 4 / 3 + 1)
        his = Array(repeating: 0, count: cap)
        los = Array(repeating: 0, count: cap)
        locations = Array(repeating: BlobLocation(pack: 0, offset: 0, length: 0, rawLength: 0, type: .page), count: cap)
        used = Array(repeating: false, count: cap)
    }

    public func packNumber(_ name: String) -> UInt32? { packNumbers[name] }

    /// Marks packs as distrusted; call before adding the index files that list them.
    public mutating func distrust(_ names: some Sequence<String>) { distrustedPacks.formUnion(names) }

    public func isDistrusted(pack n: UInt32) -> Bool {
        !distrustedPacks.isEmpty && Int(n) < packs.count && distrustedPacks.contains(packs[Int(n)])
    }

    public mutating func addPack(_ name: String, size: Int) -> UInt32 {
        if let n = packNumbers[name] { return n }
        let n = UInt32(packs.count)
        packs.append(name)
        packSizes.append(size)
        packNumbers[name] = n
        return n
    }

    private func slot(_ id: BlobID) -> (found: Bool, index: Int) {
        let cap = used.count
        var i = Int(truncatingIfNeeded: id.lo.multipliedFullWidth(by: UInt64(cap)).high)
        while used[i] {
            if his[i] == id.hi && los[i] == id.lo { return (true, i) }
            i += 1
            if i == cap { i = 0 }
        }
        return (false, i)
    }

    public func contains(_ id: BlobID) -> Bool { slot(id).found }

    /// Whether the blob is located in a pack not distrusted.
    public func hasTrustedCopy(_ id: BlobID) -> Bool { location(id).map { !isDistrusted(pack: $0.pack) } ?? false }

    public func location(_ id: BlobID) -> BlobLocation? {
        let s = slot(id)
        return s.found ? locations[s.index] : nil
    }

    /// Adds a blob; the first location recorded for an id wins (duplicates are harmless copies),
    /// unless it is in a distrusted pack and the new one is not.
    public mutating func insert(_ id: BlobID, _ location: BlobLocation) {
        if (count + 1) * 4 > used.count * 3 { grow() }
        let s = slot(id)
        if s.found {
            if isDistrusted(pack: locations[s.index].pack) && !isDistrusted(pack: location.pack) { locations[s.index] = location }
            return
        }
        used[s.index] = true
        his[s.index] = id.hi
        los[s.index] = id.lo
        locations[s.index] = location
        count += 1
    }

    /// Adds a file's packs, and of their blobs those `keep` accepts.
    public mutating func add(_ file: IndexFile, keep: (PackEntry) -> Bool = { _ in true }) {
        for p in file.packs {
            let n = addPack(p.name, size: p.size)
            for e in p.entries where keep(e) {
                insert(e.id, BlobLocation(pack: n, offset: e.offset, length: e.length, rawLength: e.rawLength, type: e.type, slot: e.slot))
            }
        }
    }

    private mutating func grow() {
        var bigger = BlobIndex(capacity: used.count * 3 / 2)
        bigger.packs = packs
        bigger.packSizes = packSizes
        bigger.packNumbers = packNumbers
        bigger.indexFiles = indexFiles
        bigger.distrustedPacks = distrustedPacks
        for i in 0..<used.count where used[i] {
            bigger.insert(BlobID(his[i], los[i]), locations[i])
        }
        self = bigger
    }

    /// Every (id, location), for check and prune.
    public func forEach(_ body: (BlobID, BlobLocation) throws -> Void) rethrows {
        for i in 0..<used.count where used[i] {
            try body(BlobID(his[i], los[i]), locations[i])
        }
    }
}

extension Repository {
    /// Loads every index file. A damaged index file is an error here; `check` reports it and
    /// `lifeboat repair-index` (future) rebuilds from pack headers.
    public func loadIndex(extraCapacity: Int = 0) throws -> BlobIndex {
        let files = try backend.list(.index)
        var index = BlobIndex(capacity: Self.entryEstimate(files) + extraCapacity)
        for info in files {
            let file = try loadIndexFile(info)
            index.add(file)
            index.indexFiles.append(info.key.name)
        }
        return index
    }

    /// What a snapshot needs of the index: every blob id the repository holds (to skip what is
    /// stored already; past `inMemory` of them in `directory`, see KnownBlobs), planned for
    /// `expectedNew` more, and the locations of the page-table blobs alone (to read the
    /// parent's table). Page locations, most of the index, are not kept.
    ///
    /// Blobs of packs the damage ledger names, or that are missing or of the wrong size in a
    /// listing of data/ (see PackTrust), count as absent: the snapshot stores those pages again
    /// instead of referencing a pack a restore could not read.
    package func loadKnownBlobs(inMemory: Int, directory: String, expectedNew: Int) throws -> (ids: KnownBlobs, tables: BlobIndex) {
        let files = try backend.list(.index)
        var trust = try packTrust(checkSizes: true)
        let ids = KnownBlobs(expected: Self.entryEstimate(files) + expectedNew, inMemory: inMemory, directory: directory)
        var tables = BlobIndex(capacity: 1024)
        for info in files {
            let file = try loadIndexFile(info)
            for p in file.packs {
                if trust.judge(p.name, indexedSize: p.size) {
                    for e in p.entries { try ids.insert(e.id) }
                } else {
                    for e in p.entries { ids.distrust(e.id) }
                }
            }
            // Table blobs of distrusted packs stay locatable (as a last resort: reading the
            // parent's table only saves lookups), but yield to any other copy.
            tables.distrust(trust.distrusted)
            tables.add(file) { !$0.type.isPage }
        }
        for name in trust.distrusted { ids.distrustedPacks[name] = trust.problem(name) ?? "damaged" }
        ids.damageFound = trust.found.filter { !trust.ledger.isDamaged($0.key) }
        return (ids, tables)
    }

    /// One index file, read, authenticated and decoded.
    public func loadIndexFile(_ info: ObjectInfo) throws -> IndexFile {
        try IndexFile.decode(try loadObject(info.key), name: info.key.name)
    }

    /// Index files hold about 18 bytes an entry once compressed (framed pages share offsets and
    /// lengths): a table sized for one entry per 16 bytes is not outgrown while loading
    /// (growing costs the old and a 1.5 times larger table at once).
    private static func entryEstimate(_ files: [ObjectInfo]) -> Int { files.reduce(0) { $0 + $1.size / 16 } }
}
