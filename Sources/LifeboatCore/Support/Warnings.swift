import Foundation

/// Non-fatal warnings go to stderr, one line each, so cron mail shows them.
public enum Warnings {
    public static func emit(_ message: String) {
        FileHandle.standardError.write(Data("lifeboat: warning: \(message)\n".utf8))
    }
}
