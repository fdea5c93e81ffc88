import Foundation

/// Who and where Lifeboat runs: the one source of the host name, the user name and process
/// facts for audit records, key slots, locks, manifests and drill reports.
public enum HostIdentity {
    /// The kernel's host name (gethostname): no DNS lookup, so it cannot hang on a resolver
    /// in the middle of a disaster.
    public static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return ProcessInfo.processInfo.hostName }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static var userName: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.environmentValue("USER") ?? "uid \(geteuid())"
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
