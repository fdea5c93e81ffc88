import LifeboatCore

/// Committed transactions of one source, as `lifeboat replicate` ships them: several
/// transactions an object, so a thousand commits a second do not become a thousand PUTs.
///
/// A lineage is one unbroken run of transactions: it starts at a snapshot (sequence 0, the
/// snapshot's `replication` point) and every transaction after it has the next sequence number.
/// A segment names the sequence it follows, so a restore proves there is no gap before it
/// replays anything; a break in the WAL that cannot be proven continuous starts a new lineage
/// at a new snapshot instead of leaving a silent hole.
public struct Segment: Sendable, Equatable {
    /// One committed transaction: the newest image of every page it wrote, in page order.
    /// After compaction (prune) one entry stands for `span` consecutive transactions: the
    /// newest image of every page any of them wrote, so it can only be replayed whole.
    public struct Transaction: Sendable, Equatable {
        public var seq: UInt64
        public var span: UInt32 = 1
        public var lastSeq: UInt64 { seq + UInt64(span) - 1 }
        /// When `replicate` saw the commit (ms since the epoch): at most its poll interval after it.
        public var timeMs: Int64
        /// The database's size in pages after the commit (SQLite's commit frame says so).
        public var databasePages: UInt32
        /// Page numbers (1-based), ascending and distinct.
        public var pages: [UInt32]
        /// `pages.count` × the segment's page size bytes, in the order of `pages`.
        public var data: [UInt8]

        public init(seq: UInt64, span: UInt32 = 1, timeMs: Int64, databasePages: UInt32, pages: [UInt32], data: [UInt8]) {
            self.seq = seq
            self.span = span
            self.timeMs = timeMs
            self.databasePages = databasePages
            self.pages = pages
            self.data = data
        }
    }

    public var source: String
    /// 16 hex digits, random per lineage.
    public var lineage: String
    public var pageSize: Int
    /// The sequence number this segment continues from (its first transaction is `follows + 1`).
    public var follows: UInt64
    public var transactions: [Transaction]
    /// Where the WAL stood after the last transaction: what a restarted `replicate` resumes from.
    public var walEnd: WALPosition

    public init(source: String, lineage: String, pageSize: Int, follows: UInt64, transactions: [Transaction], walEnd: WALPosition) {
        self.source = source
        self.lineage = lineage
        self.pageSize = pageSize
        self.follows = follows
        self.transactions = transactions
        self.walEnd = walEnd
    }

    public var firstSeq: UInt64 { follows + 1 }
    public var lastSeq: UInt64 { transactions.last?.lastSeq ?? follows }
    public var firstTimeMs: Int64 { transactions.first?.timeMs ?? 0 }
    public var lastTimeMs: Int64 { transactions.last?.timeMs ?? 0 }
}

/// A point in one generation of a database's WAL: the generation (its salts and checkpoint
/// sequence), the frames up to the last commit shipped, and SQLite's running checksum after
/// them, so the next frame can be checked without reading the log from its start again.
public struct WALPosition: Codable, Sendable, Equatable {
    public var salt1: UInt32
    public var salt2: UInt32
    public var checkpointSequence: UInt32
    /// Frames of this generation up to and including the last shipped commit frame.
    public var frames: UInt32
    public var checksum0: UInt32
    public var checksum1: UInt32
    /// The database file's inode: another number means the file was replaced.
    public var inode: UInt64

    public init(salt1: UInt32, salt2: UInt32, checkpointSequence: UInt32, frames: UInt32, checksum0: UInt32, checksum1: UInt32, inode: UInt64) {
        self.salt1 = salt1
        self.salt2 = salt2
        self.checkpointSequence = checkpointSequence
        self.frames = frames
        self.checksum0 = checksum0
        self.checksum1 = checksum1
        self.inode = inode
    }
}

extension Segment {
    static let magic: [UInt8] = Array("LBSEG".utf8) + [1]

    /// The plaintext (before compression and sealing).
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 128 + transactions.reduce(0) { $0 + 24 + $1.pages.count * 4 + $1.data.count })
        w.raw(Self.magic)
        let name = Array(source.utf8)
        w.u64(UInt64(name.count))
        w.raw(name)
        w.raw(Array(lineage.utf8.prefix(16)))
        w.u32(UInt32(pageSize))
        w.u64(follows)
        w.u32(walEnd.salt1); w.u32(walEnd.salt2); w.u32(walEnd.checkpointSequence); w.u32(walEnd.frames)
        w.u32(walEnd.checksum0); w.u32(walEnd.checksum1); w.u64(walEnd.inode)
        w.u32(UInt32(transactions.count))
        for t in transactions {
            w.u64(UInt64(bitPattern: t.timeMs))
            w.u32(t.span)
            w.u32(t.databasePages)
            w.u32(UInt32(t.pages.count))
            for p in t.pages { w.u32(p) }
            w.raw(t.data)
        }
        return w.bytes
    }

    /// Parses a plaintext, rejecting anything no `replicate` writes (hostile input included).
    public static func decode(_ bytes: [UInt8], what: String) throws -> Segment {
        let malformed = LifeboatError(.corrupt, "\(what) is malformed")
        var r = ByteReader(bytes, what: what)
        guard try r.raw(magic.count) == magic else { throw malformed }
        let nameLength = try r.int(max: 4096)
        guard let source = String(bytes: try r.raw(nameLength), encoding: .utf8) else { throw malformed }
        guard let lineage = String(bytes: try r.raw(16), encoding: .utf8), lineage.allSatisfy(\.isHexDigit) else { throw malformed }
        let pageSize = Int(try r.u32())
        guard (512...65536).contains(pageSize), pageSize & (pageSize - 1) == 0 else { throw malformed }
        let follows = try r.u64()
        let walEnd = WALPosition(salt1: try r.u32(), salt2: try r.u32(), checkpointSequence: try r.u32(), frames: try r.u32(),
                                 checksum0: try r.u32(), checksum1: try r.u32(), inode: try r.u64())
        let count = try r.count(elementSize: 20)
        guard count > 0, follows <= UInt64.max - UInt64(count) * UInt64(UInt32.max) else { throw malformed }
        var transactions: [Transaction] = []
        transactions.reserveCapacity(count)
        var previousTime = Int64.min
        var seq = follows + 1
        for _ in 0..<count {
            let time = Int64(bitPattern: try r.u64())
            let span = try r.u32()
            guard span >= 1 else { throw malformed }
            let databasePages = try r.u32()
            let n = try r.count(elementSize: 4 + pageSize)
            var pages: [UInt32] = []
            pages.reserveCapacity(n)
            for _ in 0..<n { pages.append(try r.u32()) }
            // Pages ascending, distinct, within the database the commit leaves; times never go back.
            guard time >= previousTime, databasePages > 0,
                  zip(pages, pages.dropFirst()).allSatisfy({ $0 < $1 }), pages.first.map({ $0 >= 1 }) ?? true,
                  pages.last.map({ $0 <= databasePages }) ?? true else { throw malformed }
            previousTime = time
            transactions.append(Transaction(seq: seq, span: span, timeMs: time, databasePages: databasePages, pages: pages, data: try r.raw(n * pageSize)))
            seq += UInt64(span)
        }
        guard r.isAtEnd else { throw malformed }
        return Segment(source: source, lineage: lineage, pageSize: pageSize, follows: follows, transactions: transactions, walEnd: walEnd)
    }
}
