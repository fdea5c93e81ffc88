import Foundation
import LifeboatCore
import LifeboatStorage

/// Reads a secret from the controlling terminal with echo off, so it appears neither on
/// screen nor in a terminal recording. Only used when a person is at a terminal; scripts and
/// cron give secrets through files or commands.
public enum TerminalPrompt {
    /// True when stdin is a terminal and /dev/tty can be opened.
    public static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    public static func readSecret(_ prompt: String) throws -> SecretBytes {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw LifeboatError(.usage, "no terminal to ask for the passphrase on") }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { throw LifeboatError(.usage, "cannot read the terminal settings to ask for the passphrase") }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        guard tcsetattr(fd, TCSAFLUSH, &quiet) == 0 else { throw LifeboatError(.usage, "cannot turn off terminal echo to ask for the passphrase") }
        defer { _ = tcsetattr(fd, TCSAFLUSH, &saved) }
        let p = Array(prompt.utf8)
        _ = p.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // Reserved up front: growing the array would leave partial copies in freed memory.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4097)
        var c: UInt8 = 0
        while true {
            let n = read(fd, &c, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { break }
            bytes.append(c)
            if bytes.count > 4096 {
                SecretBytes.wipe(&bytes)
                throw LifeboatError(.usage, "the passphrase typed is longer than 4096 bytes")
            }
        }
        c = 0
        guard !bytes.isEmpty else { throw LifeboatError(.usage, "no passphrase was typed") }
        return SecretBytes(consuming: &bytes)
    }

    /// Asks twice and insists both match.
    public static func readNewSecret(_ what: String) throws -> SecretBytes {
        let first = try readSecret("\(what): ")
        let second = try readSecret("repeat \(what): ")
        let same = first.withUnsafeBytes { a in second.withUnsafeBytes { b in SecretBytes.constantTimeEqual(a, b) } }
        guard same else { throw LifeboatError(.usage, "the two passphrases typed differ; nothing was changed") }
        return first
    }
}

extension PassphraseSource {
    /// The new passphrase for `key add|passwd|rotate`: LIFEBOAT_NEW_PASSWORD_FILE,
    /// LIFEBOAT_NEW_PASSWORD_COMMAND, LIFEBOAT_NEW_PASSWORD, or typed twice at a terminal.
    public static func newPassphrase() throws -> SecretBytes {
        let env = ProcessInfo.processInfo.environment
        let given = ["LIFEBOAT_NEW_PASSWORD_FILE", "LIFEBOAT_NEW_PASSWORD_COMMAND", "LIFEBOAT_NEW_PASSWORD"].contains { !(env[$0] ?? "").isEmpty }
        if given { return try fromEnvironment(prefix: "LIFEBOAT_NEW", purpose: "new passphrase") }
        guard TerminalPrompt.isInteractive else {
            throw LifeboatError(.usage, "no new passphrase given: set LIFEBOAT_NEW_PASSWORD_FILE (a file readable only by you) or LIFEBOAT_NEW_PASSWORD_COMMAND, or run at a terminal to type it")
        }
        return try TerminalPrompt.readNewSecret("new passphrase")
    }
}
