import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Reads a SQLite write-ahead log and finds, for each page, the newest frame up to the last
/// valid commit. Follows the format in SQLite's wal.c: a 32-byte header (magic, version, page
/// size, checkpoint sequence, two salts, checksum), then frames of a 24-byte header (page
/// number, database size after commit or 0, salts, cumulative checksum) and one page.
/// A frame is valid only if its salts match the header and the running checksum matches;
/// the log ends at the first invalid frame (leftovers of an earlier generation, or a frame
/// being written right now).
public struct WALIndex: Sendable {
    public let pageSize: Int
    /// Database size in pages at the last valid commit (0 when the log holds no commit).
    public let pageCount: Int
    /// Page number (1-based) → file offset of that page's data in the WAL.
    public let frames: [UInt32: Int]
    /// Number of frames up to and including the last commit.
    public let committedFrames: Int

    public static let empty = WALIndex(pageSize: 0, pageCount: 0, frames: [:], committedFrames: 0)

    package static let headerSize = 32
    package static let frameHeaderSize = 24

    /// Scans the WAL open at `fd`. `expectedPageSize` comes from the database header.
    /// With `limit` (a replication position), only the frames up to it count: the image is the
    /// state after that transaction (see WALFollower for why the database file is then still
    /// at or before it).
    public static func read(fd: Int32, path: String, expectedPageSize: Int, limit: WALPosition? = nil) throws -> WALIndex {
        var header = [UInt8](repeating: 0, count: headerSize)
        let got = try header.withUnsafeMutableBytes { try FileIO.pread(fd: fd, into: $0, offset: 0, path: path) }
        guard got == headerSize else { return .empty }
        let magic = be32(header, 0)
        guard magic == 0x377f0682 || magic == 0x377f0683 else { return .empty }
        let bigEndianChecksums = magic & 1 == 1
        let pageSize = Int(be32(header, 8))
        guard pageSize == expectedPageSize || (pageSize == 1 && expectedPageSize == 65536) else { return .empty }
        var (s0, s1) = checksum(header, 0, 24, bigEndian: bigEndianChecksums, s0: 0, s1: 0)
        guard s0 == be32(header, 24), s1 == be32(header, 28) else { return .empty }
        let salt1 = be32(header, 16), salt2 = be32(header, 20)
        if let limit, limit.salt1 != salt1 || limit.salt2 != salt2 {
            // The log restarted after the position (or there was none): the database file holds it.
            guard limit.frames == 0 || be32(header, 12) == limit.checkpointSequence &+ 1 else {
                throw LifeboatError(.database, "the WAL of \(path) moved past the replicated position during the snapshot; it is taken again")
            }
            return .empty
        }
        let maxFrames = limit.map { Int($0.frames) } ?? Int.max

        var frames: [UInt32: Int] = [:]
        var pending: [(UInt32, Int)] = []
        var pageCount = 0
        var committed = 0
        var frameNo = 0
        let frameSize = frameHeaderSize + expectedPageSize
        // Read the log in large chunks; frames never straddle our reads because chunks are whole frames.
        let framesPerChunk = max(1, (4 << 20) / frameSize)
        var chunk = [UInt8](repeating: 0, count: framesPerChunk * frameSize)
        var offset = headerSize
        scan: while true {
            let n = try chunk.withUnsafeMutableBytes { try FileIO.pread(fd: fd, into: $0, offset: offset, path: path) }
            let whole = n / frameSize
            if whole == 0 { break }
            for f in 0..<whole {
                if frameNo >= maxFrames { break scan }
                let base = f * frameSize
                guard be32(chunk, base + 8) == salt1, be32(chunk, base + 12) == salt2 else { break scan }
                (s0, s1) = checksum(chunk, base, 8, bigEndian: bigEndianChecksums, s0: s0, s1: s1)
                (s0, s1) = checksum(chunk, base + frameHeaderSize, expectedPageSize, bigEndian: bigEndianChecksums, s0: s0, s1: s1)
                guard s0 == be32(chunk, base + 16), s1 == be32(chunk, base + 20) else { break scan }
                let page = be32(chunk, base)
                guard page > 0 else { break scan }
                frameNo += 1
                pending.append((page, offset + base + frameHeaderSize))
                let commitSize = be32(chunk, base + 4)
                if commitSize > 0 {
                    for (p, o) in pending { frames[p] = o }
                    pending.removeAll(keepingCapacity: true)
                    pageCount = Int(commitSize)
                    committed = frameNo
                }
            }
            if whole < framesPerChunk { break }
            offset += whole * frameSize
        }
        if let limit, limit.frames > 0, committed != Int(limit.frames) || s0 != limit.checksum0 || s1 != limit.checksum1 {
            throw LifeboatError(.database, "the WAL of \(path) does not hold the replicated position any more; the snapshot is taken again")
        }
        return WALIndex(pageSize: expectedPageSize, pageCount: pageCount, frames: frames, committedFrames: committed)
    }

    @inline(__always)
    package static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    /// SQLite's WAL checksum over `count` bytes (a multiple of 8) starting at `start`.
    package static func checksum(_ b: [UInt8], _ start: Int, _ count: Int, bigEndian: Bool, s0: UInt32, s1: UInt32) -> (UInt32, UInt32) {
        var a = s0, c = s1
        b.withUnsafeBytes { raw in
            var i = start
            let end = start + count
            while i < end {
                var x0 = raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)
                var x1 = raw.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self)
                if bigEndian { x0 = x0.bigEndian; x1 = x1.bigEndian }
                a = a &+ x0 &+ c
                c = c &+ x1 &+ a
                i += 8
            }
        }
        return (a, c)
    }
}
