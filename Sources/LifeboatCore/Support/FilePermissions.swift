/// Files that hold secrets (passphrase files, configs with credentials) must be private to
/// their owner. A group- or world-accessible one still works, but every run warns, naming the fix.
public enum FilePermissions {
    /// Warns (once per call) when `path` is accessible by group or others; returns whether it was.
    @discardableResult
    public static func warnIfExposed(_ path: String, what: String) -> Bool {
        guard let st = try? FileIO.status(path), st.mode & 0o077 != 0 else { return false }
        Warnings.emit("\(what) \(path) is readable by other users (mode \(String(st.mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        return true
    }
}
