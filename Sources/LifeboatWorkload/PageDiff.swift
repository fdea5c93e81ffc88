import Foundation
import LifeboatCore

/// Counts the pages that differ between two SQLite database files, page by page. Benchmarks
/// report "bytes changed in the database" as changed pages × page size: the least any
/// page-level backup must store. Only the main files are compared: checkpoint WAL databases
/// first (closing the last connection does).
public enum PageDiff {
    public struct Result: Sendable, Codable, Equatable {
        public var pageSize: Int
        public var pagesA: Int
        public var pagesB: Int
        /// Pages whose bytes differ, plus pages present in only one file.
        public var changedPages: Int
        public var changedBytes: Int { changedPages * pageSize }
    }

    public static func compare(_ pathA: String, _ pathB: String) throws -> Result {
        let a = try OpenFile(path: pathA)
        let b = try OpenFile(path: pathB)
        let pageSizeA = try a.pageSize()
        let pageSizeB = try b.pageSize()
        guard pageSizeA == pageSizeB else {
            throw LifeboatError(.usage, "cannot compare \(pathA) and \(pathB): page sizes differ (\(pageSizeA) and \(pageSizeB))")
        }
        let pageSize = pageSizeA
        let pagesA = a.size / pageSize
        let pagesB = b.size / pageSize
        let common = min(pagesA, pagesB)
        var changed = max(pagesA, pagesB) - common

        // Large sequential reads; compare each page in place.
        let pagesPerChunk = max(1, (4 << 20) / pageSize)
        let chunkBytes = pagesPerChunk * pageSize
        let bufferA = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        let bufferB = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer {
            bufferA.deallocate()
            bufferB.deallocate()
        }
        var page = 0
        while page < common {
            let n = min(pagesPerChunk, common - page)
            let bytes = n * pageSize
            let gotA = try FileIO.pread(fd: a.fd, into: UnsafeMutableRawBufferPointer(rebasing: bufferA[0..<bytes]), offset: page * pageSize, path: pathA)
            let gotB = try FileIO.pread(fd: b.fd, into: UnsafeMutableRawBufferPointer(rebasing: bufferB[0..<bytes]), offset: page * pageSize, path: pathB)
            guard gotA == bytes, gotB == bytes else {
                throw LifeboatError(.io, "\(pathA) or \(pathB) changed size while being compared")
            }
            guard let baseA = bufferA.baseAddress, let baseB = bufferB.baseAddress else { break }
            for i in 0..<n where memcmp(baseA + i * pageSize, baseB + i * pageSize, pageSize) != 0 {
                changed += 1
            }
            page += n
        }
        return Result(pageSize: pageSize, pagesA: pagesA, pagesB: pagesB, changedPages: changed)
    }

    private final class OpenFile {
        package let fd: Int32
        package let path: String
        package let size: Int

        package init(path: String) throws {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open", path: path) }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let code = errno
                close(fd)
                throw LifeboatError.posix(code, "cannot read", path: path)
            }
            size = Int(st.st_size)
        }

        deinit { close(fd) }

        /// Page size from the SQLite header (bytes 16-17, big-endian; 1 means 65536).
        package func pageSize() throws -> Int {
            let header = try FileIO.readExactly(fd: fd, offset: 0, count: 100, path: path)
            guard header.starts(with: Array("SQLite format 3\0".utf8)) else {
                throw LifeboatError(.database, "\(path) is not an SQLite database")
            }
            let raw = Int(header[16]) << 8 | Int(header[17])
            let size = raw == 1 ? 65536 : raw
            guard size >= 512, size & (size - 1) == 0 else {
                throw LifeboatError(.corrupt, "\(path) has an invalid page size \(raw) in its header")
            }
            return size
        }
    }
}
