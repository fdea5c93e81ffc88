import Foundation

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

    enum CodingKeys: String, CodingKey {
        case host, pid, operation, source, exclusive
        case pidStart = "pid_start"
        case timeMs = "time_ms"
        case startedMs = "started_ms"
    }

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

/// Facts about processes on this host, for deciding whether a lock's holder is alive.
public enum ProcessIdentity {
    public static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return ProcessInfo.processInfo.hostName }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static var currentPID: Int32 { getpid() }

    /// Start time of a process in clock ticks since boot, or nil when it does not exist
    /// (or /proc is unavailable).
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
              let text = String(data: data, encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may contain spaces) start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        // field 22 (starttime) is index 22 - 3 = 19 here.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether a process of this host is still the one that wrote a lock. EPERM from kill
    /// means the process exists under another user: alive.
    public static func isAlive(pid: Int32, start: UInt64?) -> Bool {
        if pid <= 0 { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        if let start, let now = startTime(of: pid), now != start { return false }  // pid reused
        return true
    }
}
