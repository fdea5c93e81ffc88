import Foundation

/// Read-only descriptors of database files this process reads directly, beside SQLite's own
/// connections: opened once per file and never closed.
///
/// Why: closing *any* descriptor of a file drops every POSIX lock the process holds on it,
/// SQLite's included. A process that keeps a connection open (`replicate` holds read
/// transactions the whole time) would otherwise lose its SHARED lock on the database each
/// time a snapshot closed its descriptor, and an application closing its last connection could
/// then take the database EXCLUSIVE, checkpoint the whole log past our read marks and delete
/// it: the transactions not yet shipped would be gone from the WAL. One descriptor per file a
/// process reads is a bounded cost.
public enum DatabaseDescriptors {
    private static let held = Locked<[String: Int32]>([:])

    /// A descriptor of the file at `path` now (a file replaced since gets one of its own).
    public static func descriptor(for path: String) throws -> Int32 {
        var sb = stat()
        if stat(path, &sb) == 0, let fd = held.withLock({ $0["\(sb.st_dev):\(sb.st_ino)"] }) { return fd }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open database", path: path) }
        guard fstat(fd, &sb) == 0 else { return fd }
        let key = "\(sb.st_dev):\(sb.st_ino)"
        return held.withLock { map in
            // Raced with another opener: keep both open (closing one would drop the locks).
            if let existing = map[key] { leaked.withLock { $0.append(fd) }; return existing }
            map[key] = fd
            return fd
        }
    }

    private static let leaked = Locked<[Int32]>([])
}
