import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The file a restore writes: a temporary sibling that becomes the target only by an atomic
/// rename once verified, so a failed or killed restore never leaves a half-written database
/// under the target's name.
package struct TargetFile {
    package let path: String
    package let fd: Int32

    /// SQLite side files that would be replayed onto (and corrupt) a restored database.
    package static let sideSuffixes = ["-wal", "-journal", "-shm"]

    package static func checkWritable(_ target: String, force: Bool) throws {
        if FileIO.fileExists(target) && !force {
            throw LifeboatError(.exists, "\(target) already exists; choose another --to path or pass --force to replace it")
        }
        for s in sideSuffixes where FileIO.fileExists(target + s) && !force {
            throw LifeboatError(.exists, "\(target + s) exists and SQLite would apply it to the restored database; move it away or pass --force")
        }
        let dir = (target as NSString).deletingLastPathComponent
        let d = dir.isEmpty ? "." : dir
        guard let st = try FileIO.status(d), st.isDirectory else {
            throw LifeboatError(.notFound, "directory \(d) for the restored database does not exist; create it first")
        }
        if access(d, W_OK) != 0 { throw LifeboatError(.io, "directory \(d) is not writable") }
    }

    package static func createTemporary(near target: String, size: Int) throws -> TargetFile {
        let dir = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        let path = (dir.isEmpty ? "" : dir + "/") + ".\(base).lifeboat-restore-\(UUID().uuidString.prefix(8))"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot create", path: path) }
        // Reserve the space now: a full disk fails here, before any work, not halfway through.
        let rc = posix_fallocate(fd, 0, off_t(size))
        if rc != 0 && rc != EOPNOTSUPP && rc != EINVAL {
            Glibc.close(fd)
            unlink(path)
            throw LifeboatError.posix(rc, "cannot reserve \(size) bytes for", path: path)
        }
        if rc != 0 && ftruncate(fd, off_t(size)) != 0 {
            let e = errno
            Glibc.close(fd)
            unlink(path)
            throw LifeboatError.posix(e, "cannot size", path: path)
        }
        return TargetFile(path: path, fd: fd)
    }

    package func sync() throws {
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync", path: path) }
    }

    package func discard() {
        Glibc.close(fd)
        unlink(path)
    }

    /// Renames into place. Without force the rename must not replace anything (checked again
    /// here: the target may have appeared meanwhile). With force, SQLite side files of the old
    /// database are moved aside (kept, with a timestamp) so they cannot corrupt the new one.
    package func commit(to target: String, force: Bool) throws {
        Glibc.close(fd)
        if force {
            let stamp = RFC3339.format(Date()).replacingOccurrences(of: ":", with: "")
            for s in Self.sideSuffixes where FileIO.fileExists(target + s) {
                if rename(target + s, target + s + ".replaced-" + stamp) != 0 {
                    throw LifeboatError.posix(errno, "cannot move aside", path: target + s)
                }
            }
            if rename(path, target) != 0 { throw LifeboatError.posix(errno, "cannot rename restored database to", path: target) }
        } else {
            if link(path, target) != 0 {
                let e = errno
                if e == EEXIST { throw LifeboatError(.exists, "\(target) appeared while restoring; nothing was replaced (pass --force to replace it)") }
                throw LifeboatError.posix(e, "cannot create", path: target)
            }
            unlink(path)
        }
        let dir = (target as NSString).deletingLastPathComponent
        FileIO.syncDirectory(dir.isEmpty ? "." : dir)
    }
}
