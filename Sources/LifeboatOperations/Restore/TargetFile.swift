import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The file a restore writes: a temporary sibling that becomes the target only by an atomic
/// rename once verified, so a failed or killed restore never leaves a half-written database
/// under the target's name.
///
/// The temporary file is `.<target name>.lifeboat-restore-<pid>-<random>` and its writer holds
/// an exclusive flock on it until it is renamed or removed. A restore killed with SIGKILL (or
/// by a power cut) cannot remove it, so every restore first removes the temporary files of
/// its target that no process holds locked any more: the kernel drops a dead writer's lock,
/// and a live one's file is left alone, whoever started it. (The pid in the name is for the
/// person looking at the directory.)
package final class TargetFile: @unchecked Sendable {
    package let path: String
    package let fd: Int32
    private var closed = false

    /// Temporary files not yet renamed or removed, for removal on SIGINT/SIGTERM.
    private static let live = Locked<Set<String>>([])

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }
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

    /// What every temporary file of `target` starts with (the name without its directory).
    package static func temporaryPrefix(of target: String) -> String {
        ".\((target as NSString).lastPathComponent).lifeboat-restore-"
    }

    package static func createTemporary(near target: String, size: Int) throws -> TargetFile {
        let dir = (target as NSString).deletingLastPathComponent
        let path = (dir.isEmpty ? "" : dir + "/") + temporaryPrefix(of: target) + "\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot create", path: path) }
        // Locked at once; a concurrent restore's clean-up that took the file for a dead
        // writer's between open and flock has unlinked it: then the name no longer leads here.
        var mine = stat(), named = stat()
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &mine) == 0, lstat(path, &named) == 0,
              mine.st_ino == named.st_ino, mine.st_dev == named.st_dev else {
            Glibc.close(fd)
            throw LifeboatError(.io, "the temporary file \(path) was taken by another restore of the same target; run the restore again")
        }
        live.withLock { _ = $0.insert(path) }
        // Reserve the space now: a full disk fails here, before any work, not halfway through.
        let rc = posix_fallocate(fd, 0, off_t(size))
        let file = TargetFile(path: path, fd: fd)
        if rc != 0 && rc != EOPNOTSUPP && rc != EINVAL {
            file.discard()
            throw LifeboatError.posix(rc, "cannot reserve \(size) bytes for", path: path)
        }
        if rc != 0 && ftruncate(fd, off_t(size)) != 0 {
            let e = errno
            file.discard()
            throw LifeboatError.posix(e, "cannot size", path: path)
        }
        return file
    }

    /// Takes over the newest temporary file of `target` that no live writer holds (left by a
    /// restore that was killed or lost its network), for `restore --resume`: locked, counted
    /// as this process's, and sized for this restore. nil when there is none. Its pages are
    /// trusted only after each is checked against the id the snapshot names for it.
    package static func adoptStale(near target: String, size: Int) throws -> TargetFile? {
        var best: (fd: Int32, path: String, mtime: Int)?
        for (fd, path, st) in deadWritersFiles(of: target, flags: O_RDWR) {
            let mtime = Int(st.st_mtim.tv_sec)
            if let b = best, b.mtime >= mtime {
                Glibc.close(fd)
            } else {
                if let b = best { Glibc.close(b.fd) }
                best = (fd, path, mtime)
            }
        }
        guard let best else { return nil }
        let file = TargetFile(path: best.path, fd: best.fd)
        live.withLock { _ = $0.insert(best.path) }
        var st = stat()
        if fstat(best.fd, &st) != 0 || Int(st.st_size) != size {
            let rc = posix_fallocate(best.fd, 0, off_t(size))
            if rc != 0 && ftruncate(best.fd, off_t(size)) != 0 {
                let e = errno
                file.release()
                throw LifeboatError.posix(e, "cannot size", path: best.path)
            }
        }
        return file
    }

    /// Closes the file without removing it (its lock goes with the descriptor): what a restore
    /// that lost its network leaves for `restore --resume`. The next restore of the target
    /// without --resume removes it.
    package func release() {
        closeOnce()
    }

    /// Removes the temporary files of earlier restores of `target` whose writers are gone (no
    /// lock on them); returns how many and their bytes.
    package static func removeStale(near target: String) -> (count: Int, bytes: Int) {
        var removed = (count: 0, bytes: 0)
        for (fd, path, st) in deadWritersFiles(of: target, flags: O_RDONLY) {
            if unlink(path) == 0 {
                removed.count += 1
                removed.bytes += Int(st.st_blocks) * 512
            }
            Glibc.close(fd)
        }
        if removed.count > 0 { FileIO.syncDirectory(directory(of: target)) }
        return removed
    }

    /// The temporary files of `target` whose writers are gone, each opened with `flags` and
    /// locked by this process (the caller closes the descriptors). Held by a live writer: left
    /// alone. Taken: its writer is dead, and it stays ours while we look; the name must still
    /// lead to the file locked (a regular file, not a link).
    private static func deadWritersFiles(of target: String, flags: Int32) -> [(fd: Int32, path: String, stat: stat)] {
        let d = directory(of: target)
        let prefix = temporaryPrefix(of: target)
        var found: [(fd: Int32, path: String, stat: stat)] = []
        for name in (try? FileIO.listDirectory(d)) ?? [] where name.hasPrefix(prefix) {
            let path = d + "/" + name
            let fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var st = stat(), named = stat()
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &st) == 0, lstat(path, &named) == 0,
                  st.st_ino == named.st_ino, st.st_dev == named.st_dev, (st.st_mode & S_IFMT) == S_IFREG else {
                Glibc.close(fd)
                continue
            }
            found.append((fd, path, st))
        }
        return found
    }

    private static func directory(of target: String) -> String {
        let dir = (target as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// Removes every temporary file this process still has (on SIGINT/SIGTERM, before exiting).
    package static func removeLive() {
        for path in live.current { unlink(path) }
    }

    package func sync() throws {
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync", path: path) }
    }

    /// Removes the file (while still holding its lock, so no clean-up can mistake it for a
    /// dead writer's) and closes it.
    package func discard() {
        guard !closed else { return }
        unlink(path)
        closeOnce()
    }

    private func closeOnce() {
        guard !closed else { return }
        closed = true
        Self.live.withLock { _ = $0.remove(path) }
        Glibc.close(fd)
    }

    /// Renames into place. Without force the rename must not replace anything (checked again
    /// here: the target may have appeared meanwhile). With force, SQLite side files of the old
    /// database are moved aside (kept, with a timestamp) so they cannot corrupt the new one.
    /// The file stays open (and locked) until the rename is done.
    package func commit(to target: String, force: Bool) throws {
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
        closeOnce()
        let dir = (target as NSString).deletingLastPathComponent
        FileIO.syncDirectory(dir.isEmpty ? "." : dir)
    }
}
