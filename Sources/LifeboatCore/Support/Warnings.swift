import Foundation

/// Non-fatal warnings go to stderr, one line each, so cron mail shows them.
public enum Warnings {
    public static func emit(_ message: String) {
        FileHandle.standardError.write(Data("lifeboat: warning: \(message)\n".utf8))
    }

    private static let held = Locked<[String]>([])

    /// What a failure left behind (the store stopped answering, so this run's lock or audit
    /// record stayed): the command says it on the line of the error that ends the run, so a
    /// failure stays one line, or as warnings when the run succeeded after all.
    public static func hold(_ message: String) {
        held.withLock { if !$0.contains(message) { $0.append(message) } }
    }

    /// The held messages, handed over once.
    public static func takeHeld() -> [String] {
        held.withLock { notes in
            defer { notes = [] }
            return notes
        }
    }
}
