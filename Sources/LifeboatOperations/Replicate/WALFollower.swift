import Foundation
import LifeboatCore
import LifeboatRepository

/// Reads a database's WAL forward from a position, one committed transaction at a time
/// (SQLite's format: see WALIndex). Never writes.
///
/// Continuity: the position names the WAL generation (salts, checkpoint sequence), the frames
/// up to the last shipped commit and SQLite's running checksum after them. The next frame must
/// carry the same salts and continue that checksum, so a frame is never shipped twice or
/// skipped. A new generation (SQLite restarted the log after a checkpoint) continues the
/// position only when its checkpoint sequence is the next one: `ReadMarks` keeps a read
/// transaction open, which stops SQLite from restarting the log while frames after the
/// position exist, so one restart is the most that can happen between two reads, and only at
/// the position. Anything else is a break the caller turns into a new snapshot.
final class WALFollower {
    struct Transaction {
        var databasePages: UInt32
        var pages: [UInt32]
        var data: [UInt8]
        /// The position just after this transaction's commit frame.
        var end: WALPosition
        var bytes: Int { data.count }
    }

    enum Step {
        /// Committed transactions after the position, oldest first (possibly none).
        case transactions([Transaction])
        /// The WAL does not continue the position: why, in words for the log.
        case broken(String)
    }

    let databasePath: String
    let walPath: String
    let pageSize: Int
    private var fd: Int32 = -1
    private var inode: UInt64 = 0

    init(databasePath: String, pageSize: Int) {
        self.databasePath = databasePath
        self.walPath = databasePath + "-wal"
        self.pageSize = pageSize
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The inode of the database file now, or nil when it is gone.
    static func databaseInode(_ path: String) -> UInt64? {
        var sb = stat()
        guard stat(path, &sb) == 0 else { return nil }
        return UInt64(sb.st_ino)
    }

    /// The WAL open, reopened when the file was replaced (a journal-mode change deletes it).
    private func walFD() -> Int32? {
        var sb = stat()
        guard stat(walPath, &sb) == 0 else {
            if fd >= 0 { close(fd); fd = -1 }
            return nil
        }
        if fd >= 0 && UInt64(sb.st_ino) == inode { return fd }
        if fd >= 0 { close(fd) }
        fd = open(walPath, O_RDONLY | O_CLOEXEC)
        inode = UInt64(sb.st_ino)
        return fd >= 0 ? fd : nil
    }

    struct Header {
        var salt1: UInt32, salt2: UInt32, checkpointSequence: UInt32
        var checksum0: UInt32, checksum1: UInt32
        var bigEndian: Bool
    }

    /// The WAL's header when it is whole and of this page size; nil when there is no log yet.
    func header() throws -> Header? {
        guard let fd = walFD() else { return nil }
        var h = [UInt8](repeating: 0, count: WALIndex.headerSize)
        let got = try h.withUnsafeMutableBytes { try FileIO.pread(fd: fd, into: $0, offset: 0, path: walPath) }
        guard got == WALIndex.headerSize else { return nil }
        let magic = WALIndex.be32(h, 0)
        guard magic == 0x377f0682 || magic == 0x377f0683 else { return nil }
        let size = Int(WALIndex.be32(h, 8))
        guard size == pageSize || (size == 1 && pageSize == 65536) else {
            throw LifeboatError(.database, "the WAL of \(databasePath) has pages of \(size) bytes, the database \(pageSize): the page size changed; restart replicate")
        }
        let big = magic & 1 == 1
        let (s0, s1) = WALIndex.checksum(h, 0, 24, bigEndian: big, s0: 0, s1: 0)
        guard s0 == WALIndex.be32(h, 24), s1 == WALIndex.be32(h, 28) else { return nil }
        return Header(salt1: WALIndex.be32(h, 16), salt2: WALIndex.be32(h, 20), checkpointSequence: WALIndex.be32(h, 12),
                      checksum0: s0, checksum1: s1, bigEndian: big)
    }

    /// The position at the end of what the WAL holds now (a new lineage starts here).
    func currentEnd(inode: UInt64) throws -> WALPosition {
        guard let h = try header() else { return WALPosition(salt1: 0, salt2: 0, checkpointSequence: 0, frames: 0, checksum0: 0, checksum1: 0, inode: inode) }
        let start = WALPosition(salt1: h.salt1, salt2: h.salt2, checkpointSequence: h.checkpointSequence, frames: 0, checksum0: h.checksum0, checksum1: h.checksum1, inode: inode)
        var end = start
        // Only positions are kept: the pages are not needed, so read in bounded steps.
        while true {
            guard case .transactions(let t) = try read(after: end, maxBytes: 64 << 20, keepData: false), let last = t.last else { return end }
            end = last.end
        }
    }

    /// The most frames of a generation the wal-index showed committed: a new generation
    /// continues the position only when the position had reached it.
    private var visibleEnd: WALIndexHeader?

    /// Committed transactions after `position`, up to about `maxBytes` of pages: only frames
    /// the wal-index header shows committed (`WALIndexHeader`; without a -shm, every frame with
    /// valid salts and checksums, as SQLite's own recovery would take them).
    /// `allowRestart` false: a new generation is a break (the first read after a resume, when
    /// no read mark of ours was held to stop SQLite restarting the log over unread frames).
    func read(after position: WALPosition, maxBytes: Int, keepData: Bool = true, allowRestart: Bool = true) throws -> Step {
        guard let h = try header() else {
            // No log (yet, or truncated by a checkpoint): nothing new to ship.
            return .transactions([])
        }
        let index = WALIndexHeader.read(databasePath: databasePath)
        // Noted after the generation check below, which needs what was seen of the old one.
        defer { if let index, index.isGeneration(h.salt1, h.salt2) { visibleEnd = index } }
        var pos = position
        if h.salt1 != position.salt1 || h.salt2 != position.salt2 {
            let fresh = position.salt1 == 0 && position.salt2 == 0 && position.frames == 0
            guard fresh || allowRestart else {
                return .broken("the WAL was restarted while replicate was not holding its read mark")
            }
            guard fresh || h.checkpointSequence == position.checkpointSequence &+ 1 else {
                return .broken("the WAL was restarted more than once since the last shipped transaction (checkpoint \(position.checkpointSequence) → \(h.checkpointSequence))")
            }
            if !fresh, let seen = lastSeenOf(position), seen > position.frames {
                return .broken("the WAL was restarted before replicate had read all of its frames (\(position.frames) of \(seen))")
            }
            pos = WALPosition(salt1: h.salt1, salt2: h.salt2, checkpointSequence: h.checkpointSequence, frames: 0,
                              checksum0: h.checksum0, checksum1: h.checksum1, inode: position.inode)
        }
        // Frames past the visible end are not committed (yet, or ever): left for a later read.
        var limit = UInt32.max
        if let index {
            guard index.isGeneration(pos.salt1, pos.salt2) else { return .transactions([]) }
            limit = index.mxFrame
        }
        if pos.frames >= limit { return .transactions([]) }
        guard let fd = walFD() else { return .transactions([]) }
        let frameSize = WALIndex.frameHeaderSize + pageSize
        var s0 = pos.checksum0, s1 = pos.checksum1
        var frameNo = pos.frames
        var offset = WALIndex.headerSize + Int(pos.frames) * frameSize
        var out: [Transaction] = []
        var total = 0
        var pending: [UInt32: [UInt8]] = [:]
        let framesPerChunk = max(1, (4 << 20) / frameSize)
        var chunk = [UInt8](repeating: 0, count: framesPerChunk * frameSize)
        scan: while total < maxBytes {
            let n = try chunk.withUnsafeMutableBytes { try FileIO.pread(fd: fd, into: $0, offset: offset, path: walPath) }
            let whole = n / frameSize
            if whole == 0 { break }
            for f in 0..<whole {
                if frameNo >= limit { break scan }
                let base = f * frameSize
                guard WALIndex.be32(chunk, base + 8) == pos.salt1, WALIndex.be32(chunk, base + 12) == pos.salt2 else { break scan }
                var (a, b) = WALIndex.checksum(chunk, base, 8, bigEndian: h.bigEndian, s0: s0, s1: s1)
                (a, b) = WALIndex.checksum(chunk, base + WALIndex.frameHeaderSize, pageSize, bigEndian: h.bigEndian, s0: a, s1: b)
                guard a == WALIndex.be32(chunk, base + 16), b == WALIndex.be32(chunk, base + 20) else { break scan }
                let page = WALIndex.be32(chunk, base)
                guard page > 0 else { break scan }
                s0 = a; s1 = b
                frameNo += 1
                if keepData { pending[page] = Array(chunk[(base + WALIndex.frameHeaderSize)..<(base + frameSize)]) } else { pending[page] = [] }
                let commitSize = WALIndex.be32(chunk, base + 4)
                if commitSize > 0 {
                    // Pages past the end the commit leaves were spilled earlier in the transaction and are dropped.
                    let pages = pending.keys.filter { $0 <= commitSize }.sorted()
                    var data: [UInt8] = []
                    if keepData {
                        data.reserveCapacity(pages.count * pageSize)
                        for p in pages { data.append(contentsOf: pending[p] ?? []) }
                    }
                    pending.removeAll(keepingCapacity: true)
                    let end = WALPosition(salt1: pos.salt1, salt2: pos.salt2, checkpointSequence: pos.checkpointSequence, frames: frameNo,
                                          checksum0: s0, checksum1: s1, inode: pos.inode)
                    out.append(Transaction(databasePages: commitSize, pages: pages, data: data, end: end))
                    total += pages.count * pageSize
                    if total >= maxBytes { break scan }
                }
            }
            if whole < framesPerChunk { break }
            offset += whole * frameSize
        }
        return .transactions(out)
    }

    /// The most frames the wal-index was seen to hold committed in `position`'s generation.
    private func lastSeenOf(_ position: WALPosition) -> UInt32? {
        guard let v = visibleEnd, v.isGeneration(position.salt1, position.salt2) else { return nil }
        return v.mxFrame
    }

    /// Whether the WAL still holds `position` exactly (same generation, and the frame there
    /// carries the checksum the position recorded): what a restarted `replicate` may resume from.
    func holds(_ position: WALPosition) throws -> Bool {
        guard let h = try header() else { return position.frames == 0 && position.salt1 == 0 && position.salt2 == 0 }
        guard h.salt1 == position.salt1, h.salt2 == position.salt2, h.checkpointSequence == position.checkpointSequence else { return false }
        if position.frames == 0 { return true }
        guard let fd = walFD() else { return false }
        let frameSize = WALIndex.frameHeaderSize + pageSize
        var frameHeader = [UInt8](repeating: 0, count: WALIndex.frameHeaderSize)
        let at = WALIndex.headerSize + Int(position.frames - 1) * frameSize
        let got = try frameHeader.withUnsafeMutableBytes { try FileIO.pread(fd: fd, into: $0, offset: at, path: walPath) }
        return got == WALIndex.frameHeaderSize && WALIndex.be32(frameHeader, 8) == h.salt1 && WALIndex.be32(frameHeader, 12) == h.salt2
            && WALIndex.be32(frameHeader, 16) == position.checksum0 && WALIndex.be32(frameHeader, 20) == position.checksum1
            && WALIndex.be32(frameHeader, 4) > 0
    }
}
