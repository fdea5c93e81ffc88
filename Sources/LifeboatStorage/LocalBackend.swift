import Foundation
import LifeboatCore

/// A repository in a local directory (or a mounted NAS).
///
/// Writes go to a temporary file that is fsynced and then hard-linked into place: `link`
/// fails when the name exists, which gives "never overwrite" for free, and the object appears
/// whole or not at all even if the process is killed or the machine loses power.
public struct LocalBackend: Backend {
    public let root: String
    public var location: String { root }

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.root = p
    }

    private func fullPath(_ key: ObjectKey) -> String { root + "/" + key.path }

    public func create() throws {
        for dir in ["", "/tmp", "/keys", "/data", "/index", "/snapshots", "/locks", "/audit"] {
            try makeDirectory(root + dir)
        }
    }

    private func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw LifeboatError.posix(errno, "cannot create directory", path: path)
        }
    }

    public func put(_ key: ObjectKey, _ bytes: [UInt8]) throws {
        let target = fullPath(key)
        let dir = (target as NSString).deletingLastPathComponent
        // sourcekeys/, attestations/ and damaged/ are newer than the repository format: made on first use.
        if key.kind == .data || key.kind == .sourceKeys || key.kind == .attestations || key.kind == .damaged || key.kind == .segments { try makeDirectory(dir) }
        let tmpDir = root + "/tmp"
        try makeDirectory(tmpDir)
        let tmp = tmpDir + "/" + key.name + "." + UUID().uuidString + ".tmp"
        // Packs bypass the page cache (O_DIRECT): backup data is not read again soon, and
        // buffered it would evict the pages the live database relies on. It also spares the
        // CPU of filling fresh page-cache memory, a fifth of a first snapshot's on a VM.
        let (fd, direct) = key.kind == .data ? try FileIO.createForDirectWrite(tmp)
            : (open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600), false)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot write", path: tmp) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            if direct {
                try bytes.withUnsafeBytes { try FileIO.writeDirect(fd: fd, $0, path: tmp) }
            } else {
                try FileIO.writeAll(fd: fd, bytes, path: tmp)
            }
            if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync", path: tmp) }
        }
        if link(tmp, target) != 0 {
            let e = errno
            if e == EEXIST { throw LifeboatError(.exists, "object \(key.path) already exists in \(root); refusing to overwrite") }
            throw LifeboatError.posix(e, "cannot store object", path: target)
        }
        unlink(tmp)
        ok = true
        FileIO.syncDirectory(dir)
    }

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        let path = fullPath(key)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw notFoundOr(errno, key) }
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw LifeboatError.posix(errno, "cannot read", path: path) }
        return try FileIO.readExactly(fd: fd, offset: 0, count: Int(st.st_size), path: path)
    }

    public func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] {
        let path = fullPath(key)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw notFoundOr(errno, key) }
        defer { close(fd) }
        do {
            return try FileIO.readExactly(fd: fd, offset: offset, count: length, path: path)
        } catch let e as LifeboatError where e.kind == .corrupt {
            throw LifeboatError(.corrupt, "object \(key.path) in \(root) is shorter than its index says (truncated?); run 'lifeboat check'")
        }
    }

    public var readsIntoBuffer: Bool { true }

    /// Reads a range into `buffer` (see `FileIO.readDirect`): with O_DIRECT where the file
    /// system allows, so a restore's packs are neither kept in nor copied through the page cache.
    public func readRange(_ key: ObjectKey, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer {
        let path = fullPath(key)
        guard let (fd, direct) = FileIO.openForDirectRead(path) else { throw notFoundOr(errno, key) }
        defer { close(fd) }
        do {
            return try FileIO.readDirect(fd: fd, direct: direct, offset: offset, length: length, into: buffer, path: path)
        } catch let e as LifeboatError where e.kind == .corrupt {
            throw LifeboatError(.corrupt, "object \(key.path) in \(root) is shorter than its index says (truncated?); run 'lifeboat check'")
        }
    }

    public func stat(_ key: ObjectKey) throws -> Int? {
        try FileIO.status(fullPath(key))?.size
    }

    public func list(_ kind: ObjectKind) throws -> [ObjectInfo] {
        if kind == .config {
            return try stat(.config).map { [ObjectInfo(key: .config, size: $0)] } ?? []
        }
        let base = root + "/" + kind.rawValue
        var dirs = [base]
        if kind == .data {
            dirs = try FileIO.listDirectory(base).filter { $0.count == 2 }.map { base + "/" + $0 }
        }
        var out: [ObjectInfo] = []
        for dir in dirs {
            for name in try FileIO.listDirectory(dir) where !name.hasPrefix(".") {
                guard let st = try FileIO.status(dir + "/" + name), st.isRegularFile else { continue }
                out.append(ObjectInfo(key: ObjectKey(kind, name), size: st.size))
            }
        }
        return out
    }

    public func delete(_ key: ObjectKey) throws {
        let path = fullPath(key)
        if unlink(path) != 0 { throw notFoundOr(errno, key) }
        FileIO.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    private func notFoundOr(_ code: Int32, _ key: ObjectKey) -> LifeboatError {
        if code == ENOENT { return LifeboatError(.notFound, "object \(key.path) is missing from \(root)") }
        return LifeboatError.posix(code, "cannot access", path: fullPath(key))
    }
}
