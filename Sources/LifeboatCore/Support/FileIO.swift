import CDirectIO
import Foundation

/// Thin POSIX helpers: full reads and writes that retry on EINTR and short transfers.
public enum FileIO {
    public static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
    }

    public static func writeAll(fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = write(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw LifeboatError.posix(errno, "cannot write", path: path)
            }
            done += n
        }
    }

    /// Asks the kernel to start writing the file's dirty pages now, without waiting (Linux's
    /// sync_file_range): a large file written this way as it goes leaves little for its final
    /// fsync, which otherwise waits for every byte at once. Best effort: failures are ignored.
    public static func startWriteback(fd: Int32) {
        _ = lb_start_writeback(fd)
    }

    public static func pwriteAll(fd: Int32, _ buffer: UnsafeRawBufferPointer, offset: Int, path: String) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, base + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw LifeboatError.posix(errno, "cannot write", path: path)
            }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (short at EOF).
    public static func pread(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int, path: String) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw LifeboatError.posix(errno, "cannot read", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public static func readExactly(fd: Int32, offset: Int, count: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBytes { try pread(fd: fd, into: $0, offset: offset, path: path) }
        if got != count { throw LifeboatError(.corrupt, "\(path) is shorter than expected (\(got) of \(count) bytes)") }
        return out
    }

    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open", path: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LifeboatError.posix(errno, "cannot read", path: path) }
        return try readExactly(fd: fd, offset: 0, count: Int(st.st_size), path: path)
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw LifeboatError.posix(errno, "cannot list", path: path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let chars = raw.bindMemory(to: UInt8.self)
                let end = chars.firstIndex(of: 0) ?? chars.count
                return String(decoding: chars[0..<end], as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Makes a rename or link durable. Best effort: some file systems refuse fsync on directories.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    public struct Status: Sendable {
        public let size: Int
        public let isRegularFile: Bool
        public let isDirectory: Bool
        public let mode: UInt32
    }

    /// stat(2) of a path, or nil when nothing is there.
    public static func status(_ path: String) throws -> Status? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw LifeboatError.posix(errno, "cannot stat", path: path)
        }
        let type = st.st_mode & S_IFMT
        return Status(size: Int(st.st_size), isRegularFile: type == S_IFREG, isDirectory: type == S_IFDIR, mode: UInt32(st.st_mode & 0o7777))
    }

    public static func fileExists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}

extension FileIO {
    /// Creates a new file for writing (O_EXCL, mode 0600), with O_DIRECT where the file system
    /// takes it; `direct` says whether it did.
    public static func createForDirectWrite(_ path: String) throws -> (fd: Int32, direct: Bool) {
        guard let opened = openPreferringDirect(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC) else {
            throw LifeboatError.posix(errno, "cannot write", path: path)
        }
        return opened
    }

    /// Writes `bytes` from the start of a file made by `createForDirectWrite` with `direct`:
    /// whole 4 KiB blocks through an aligned bounce buffer, the last partial block (and
    /// everything, should the device refuse the alignment) with O_DIRECT turned off again.
    public static func writeDirect(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard let src = bytes.baseAddress else { return }
        let body = bytes.count / directBlock * directBlock
        var done = 0
        if body > 0 {
            let bounce = DirectBuffers.take()
            defer { DirectBuffers.give(bounce) }
            while done < body {
                let n = min(DirectBuffers.size, body - done)
                bounce.copyMemory(from: src + done, byteCount: n)
                let w = pwrite(fd, bounce, n, off_t(done))
                if w < 0 && errno == EINTR { continue }
                if w < 0 && errno == EINVAL && done == 0 { break }
                if w < 0 { throw LifeboatError.posix(errno, "cannot write", path: path) }
                done += w
            }
        }
        if done < bytes.count {
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags & ~lb_o_direct()) == 0 else {
                throw LifeboatError.posix(errno, "cannot write", path: path)
            }
            try pwriteAll(fd: fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset: done, path: path)
        }
    }

    /// Opens a file for reading, with O_DIRECT where the file system takes it; `direct` says
    /// whether it did. nil (errno set) when it cannot be opened.
    public static func openForDirectRead(_ path: String) -> (fd: Int32, direct: Bool)? {
        openPreferringDirect(path, O_RDONLY | O_CLOEXEC)
    }

    /// `open(path, flags | O_DIRECT, 0600)`, or without O_DIRECT where the file system refuses
    /// it (EINVAL: tmpfs and some others), the data then going through the page cache. nil
    /// (errno set) when the file cannot be opened at all.
    private static func openPreferringDirect(_ path: String, _ flags: Int32) -> (fd: Int32, direct: Bool)? {
        if lb_o_direct() != 0 {
            let fd = open(path, flags | lb_o_direct(), 0o600)
            if fd >= 0 { return (fd, true) }
            if errno != EINVAL { return nil }
        }
        let fd = open(path, flags, 0o600)
        return fd >= 0 ? (fd, false) : nil
    }

    /// Reads `length` bytes at `offset` into `buffer` (4 KiB-aligned, `directReadBound(length)`
    /// bytes at least); returns where they are in it. Direct reads are widened to whole blocks.
    /// Throws `.corrupt` when the file ends first.
    public static func readDirect(fd: Int32, direct: Bool, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> UnsafeRawBufferPointer {
        let start = direct ? offset / directBlock * directBlock : offset
        let end = direct ? (offset + length + directBlock - 1) / directBlock * directBlock : offset + length
        precondition(end - start <= buffer.count)
        let got = try pread(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(end - start)]), offset: start, path: path)
        guard got >= offset + length - start else { throw LifeboatError(.corrupt, "\(path) is shorter than expected") }
        return UnsafeRawBufferPointer(rebasing: buffer[(offset - start)..<(offset - start + length)])
    }

    /// Bytes a buffer needs for `readDirect` of `length` bytes.
    public static func directReadBound(_ length: Int) -> Int { length + 2 * directBlock }

    package static let directBlock = 4096
}

/// 1 MiB bounce buffers aligned for O_DIRECT, kept for reuse (a fresh one per pack would be
/// fresh memory each time, which is what direct writes avoid).
private enum DirectBuffers {
    package static let size = 1 << 20
    private static let free = Locked<[UnsafeTransfer<UnsafeMutableRawPointer>]>([])

    package static func take() -> UnsafeMutableRawPointer {
        if let b = free.withLock({ $0.popLast() }) { return b.value }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: FileIO.directBlock)
    }

    package static func give(_ b: UnsafeMutableRawPointer) {
        free.withLock { $0.append(UnsafeTransfer(b)) }
    }
}
