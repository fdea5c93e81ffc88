import Foundation
import LifeboatCore

/// What prune may additionally ask of a backend. A backend that cannot tell object ages
/// reports none (the defaults), and prune relies on its exclusive lock alone.
public protocol BackendMaintenance {
    /// When an object was stored, or nil when unknown.
    func modificationTime(_ key: ObjectKey) throws -> Date?
    /// Removes the backend's own leftovers (temporary files of interrupted uploads, which hold
    /// encrypted pack data) older than `age` seconds. Returns how many bytes were removed.
    func removeTemporaryFiles(olderThan age: TimeInterval) throws -> Int
}

extension Backend {
    public func modificationTime(_ key: ObjectKey) throws -> Date? { nil }
    public func removeTemporaryFiles(olderThan age: TimeInterval) throws -> Int { 0 }
}

extension LocalBackend {
    public func modificationTime(_ key: ObjectKey) throws -> Date? {
        var st = Glibc.stat()
        guard lstat(root + "/" + key.path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    public func removeTemporaryFiles(olderThan age: TimeInterval) throws -> Int {
        let dir = root + "/tmp"
        var removed = 0
        let limit = Date().addingTimeInterval(-age).timeIntervalSince1970
        for name in try FileIO.listDirectory(dir) where name.hasSuffix(".tmp") {
            var st = Glibc.stat()
            let path = dir + "/" + name
            guard lstat(path, &st) == 0, Double(st.st_mtim.tv_sec) <= limit else { continue }
            if unlink(path) == 0 { removed += Int(st.st_size) }
        }
        return removed
    }
}
