import Foundation
import LifeboatCore
import LifeboatStorage

/// What a lock object says about the run holding it. Stored encrypted under locks/ like every
/// other object (host names and database paths are not for the storage provider to read).
public struct LockRecord: Codable, Sendable, Equatable {
    public var host: String
    public var pid: Int32
    /// The process's start time in clock ticks since boot (/proc/PID/stat field 22), so a pid
    /// reused by another process after a crash is not mistaken for the lock holder.
    public var pidStart: UInt64?
    /// When this lock object was written (creation or last refresh), ms since the epoch.
    public var timeMs: Int64
    /// When the run started, ms since the epoch.
    public var startedMs: Int64
    public var operation: String
    /// The source a shared lock protects (snapshot); nil for repository-wide locks.
    public var source: String?
    public var exclusive: Bool

    /// Two locks conflict when either is exclusive, or both protect the same source.
    public func conflicts(with other: LockRecord) -> Bool {
        if exclusive || other.exclusive { return true }
        if let a = source, let b = other.source { return a == b }
        return false
    }

    public var summary: String {
        let what = operation + (source.map { " of '\($0)'" } ?? "")
        return "\(what) on host \(host) (pid \(pid)) since \(RFC3339.format(Date(unixMilliseconds: startedMs)))"
    }
}
