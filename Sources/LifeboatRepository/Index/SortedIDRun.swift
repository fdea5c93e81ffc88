import Foundation
import LifeboatCore
import LifeboatStorage

/// A sorted list of blob ids in an unlinked temporary file, 16 bytes an id: written once in
/// order, then searched with one 4 KiB read, since the first id of every 4 KiB block is kept in
/// memory (1/16 of a byte an id). The file has no name, so it goes with the process, even a
/// killed one, and nothing else can open it.
package final class SortedIDRun: Sendable {
    /// Ids in a block (4 KiB), the unit of a search's read.
    package static let blockIDs = 256
    private static let idSize = MemoryLayout<BlobID>.stride

    package let count: Int
    private let fd: Int32
    /// The first id of each block.
    private let fences: [BlobID]
    /// The directory the file was made in, for messages.
    private let directory: String

    private init(fd: Int32, count: Int, fences: [BlobID], directory: String) {
        self.fd = fd
        self.count = count
        self.fences = fences
        self.directory = directory
    }

    deinit { close(fd) }

    /// Whether the run holds `id`. Safe to call from several threads at once.
    package func contains(_ id: BlobID) throws -> Bool {
        // The block whose first id is the last one not above `id`.
        var lo = 0, hi = fences.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if fences[mid] <= id { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return false }
        let b = lo - 1
        if fences[b] == id { return true }
        let n = min(Self.blockIDs, count - b * Self.blockIDs)
        return try withUnsafeTemporaryAllocation(of: BlobID.self, capacity: Self.blockIDs) { block in
            try read(from: b * Self.blockIDs, into: UnsafeMutableBufferPointer(rebasing: block[0..<n]))
            var lo = 0, hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if block[mid] < id { lo = mid + 1 } else { hi = mid }
            }
            return lo < n && block[lo] == id
        }
    }

    /// Reads ids `first ..< first + buffer.count` into `buffer`.
    private func read(from first: Int, into buffer: UnsafeMutableBufferPointer<BlobID>) throws {
        let raw = UnsafeMutableRawBufferPointer(buffer)
        let got = try FileIO.pread(fd: fd, into: raw, offset: first * Self.idSize, path: "the dedup spill file in \(directory)")
        guard got == raw.count else {
            throw LifeboatError(.io, "the dedup spill file in \(directory) is shorter than written (\(got) of \(raw.count) bytes at id \(first)); is something truncating files there?")
        }
    }

    /// A run of the ids `fill` appends, in ascending order; the file is closed (and so gone) if
    /// anything fails on the way.
    package static func write(in directory: String, _ fill: (inout Writer) throws -> Void) throws -> SortedIDRun {
        var writer = try Writer(directory: directory)
        do {
            try fill(&writer)
            return try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Writes a run: ids must come in ascending order (repeats are dropped).
    package struct Writer {
        private let fd: Int32
        private let directory: String
        private var buffer: [BlobID] = []
        private var fences: [BlobID] = []
        private var count = 0
        private var last: BlobID?
        private var done = false
        private static let bufferIDs = 4096

        package init(directory: String) throws {
            fd = try Self.createUnlinked(in: directory)
            self.directory = directory
            buffer.reserveCapacity(Self.bufferIDs)
        }

        package mutating func append(_ id: BlobID) throws {
            if let last {
                if id == last { return }
                guard last < id else { throw LifeboatError(.internalError, "dedup spill run written out of order") }
            }
            last = id
            if count % SortedIDRun.blockIDs == 0 { fences.append(id) }
            buffer.append(id)
            count += 1
            if buffer.count == Self.bufferIDs { try flush() }
        }

        /// The finished run (the writer is spent). After an error, call `abandon()`.
        package mutating func finish() throws -> SortedIDRun {
            try flush()
            done = true
            return SortedIDRun(fd: fd, count: count, fences: fences, directory: directory)
        }

        /// Closes the file of a run not finished (its space goes back at once). Every writer
        /// ends in `finish()` or in this.
        package func abandon() { if !done { close(fd) } }

        private mutating func flush() throws {
            let where_ = "the dedup spill file in \(directory) (set TMPDIR to a directory with room: 16 bytes a stored page)"
            try buffer.withUnsafeBytes { try FileIO.pwriteAll(fd: fd, $0, offset: (count - buffer.count) * SortedIDRun.idSize, path: where_) }
            buffer.removeAll(keepingCapacity: true)
        }

        private static func createUnlinked(in directory: String) throws -> Int32 {
            var template = Array((directory + "/lifeboat-dedup.XXXXXX").utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { t in t.baseAddress.map { mkstemp($0) } ?? -1 }
            guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot create a dedup spill file in", path: directory + " (set TMPDIR to a writable directory)") }
            // Not inherited by a process started later (a passphrase command).
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            unlink(path)
            return fd
        }
    }

    /// Reads a run in order, 4096 ids at a time (for merging runs).
    package struct Cursor {
        private let run: SortedIDRun
        private var buffer: [BlobID]
        private var next = 0
        private var position = 0
        /// The id at the cursor; nil past the end.
        package private(set) var current: BlobID?

        package init(_ run: SortedIDRun) throws {
            self.run = run
            buffer = []
            try advance()
        }

        package mutating func advance() throws {
            if next == buffer.count {
                let n = min(4096, run.count - position)
                guard n > 0 else { current = nil; return }
                if buffer.count != n { buffer = Array(repeating: .zero, count: n) }
                let start = position
                try buffer.withUnsafeMutableBufferPointer { try run.read(from: start, into: $0) }
                position += n
                next = 0
            }
            current = buffer[next]
            next += 1
        }
    }
}
