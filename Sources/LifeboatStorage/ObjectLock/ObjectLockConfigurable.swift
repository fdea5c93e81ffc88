import Foundation
import LifeboatCore

/// S3 Object Lock as a capability of every backend: S3 locks objects, a decorator forwards to
/// what it wraps, and a local directory (which Lifeboat cannot make immutable) keeps the
/// defaults. Set after the repository config is read, because the policy lives in that
/// (encrypted) config.
public protocol ObjectLockConfigurable {
    func setObjectLock(_ runtime: ObjectLockRuntime)
    /// Retain-until state of every lockable object, one entry per S3 copy; none for a backend
    /// that cannot lock objects.
    func objectLockStatus() throws -> [ObjectLockStatus]
    /// Per location, how many reads were served by a version hidden behind a delete marker.
    var readsBehindDeleteMarkers: [String: Int] { get }
}

extension Backend {
    public func setObjectLock(_ runtime: ObjectLockRuntime) {}
    public func objectLockStatus() throws -> [ObjectLockStatus] { [] }
    public var readsBehindDeleteMarkers: [String: Int] { [:] }
}

/// Applies the lock settings to a backend (and, through a replicated backend, to its copies).
public func applyObjectLock(_ runtime: ObjectLockRuntime, to backend: any Backend) {
    backend.setObjectLock(runtime)
}
