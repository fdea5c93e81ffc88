import Foundation

extension ProcessInfo {
    /// An environment variable, or nil when unset or empty.
    public static func environmentValue(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }
}
