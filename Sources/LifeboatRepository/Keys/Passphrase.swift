import Foundation
import LifeboatCore
import LifeboatStorage

/// Where the repository passphrase comes from. Never from argv: a command line is visible to
/// every user in /proc/PID/cmdline and lands in shell history and cron mail.
public enum PassphraseSource {
    /// LIFEBOAT_PASSWORD_FILE, then LIFEBOAT_PASSWORD_COMMAND, then LIFEBOAT_PASSWORD.
    public static func fromEnvironment(prefix: String = "LIFEBOAT", purpose: String = "repository passphrase") throws -> SecretBytes {
        let env = ProcessInfo.processInfo.environment
        if let file = env["\(prefix)_PASSWORD_FILE"], !file.isEmpty {
            return try readFile(file, variable: "\(prefix)_PASSWORD_FILE")
        }
        if let command = env["\(prefix)_PASSWORD_COMMAND"], !command.isEmpty {
            return try runCommand(command, variable: "\(prefix)_PASSWORD_COMMAND")
        }
        if let value = env["\(prefix)_PASSWORD"], !value.isEmpty {
            var bytes = Array(value.utf8)
            return SecretBytes(consuming: &bytes)
        }
        throw LifeboatError(.usage, "no \(purpose) given: set \(prefix)_PASSWORD_FILE (a file readable only by you), \(prefix)_PASSWORD_COMMAND or \(prefix)_PASSWORD")
    }

    /// Reads a passphrase file; a trailing newline is not part of the passphrase.
    public static func readFile(_ path: String, variable: String) throws -> SecretBytes {
        guard try FileIO.status(path) != nil else {
            throw LifeboatError(.usage, "\(variable) names \(path), which does not exist")
        }
        FilePermissions.warnIfExposed(path, what: "passphrase file")
        var bytes = try FileIO.readFile(path)
        return try finish(&bytes, origin: variable)
    }

    public static func runCommand(_ command: String, variable: String) throws -> SecretBytes {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        process.environment = childEnvironment()
        do { try process.run() } catch {
            throw LifeboatError(.usage, "\(variable) could not be started: \(error.localizedDescription)")
        }
        var bytes = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            SecretBytes.wipe(&bytes)
            throw LifeboatError(.usage, "\(variable) exited with status \(process.terminationStatus); fix the command and try again")
        }
        return try finish(&bytes, origin: variable)
    }

    /// Variables that hold a passphrase in clear: never handed to a child process.
    public static let secretVariables: Set<String> = ["LIFEBOAT_PASSWORD", "LIFEBOAT_NEW_PASSWORD"]

    /// This process's environment without the passphrase variables, for every child Lifeboat
    /// starts (password commands, dump commands): a child has no business with them.
    public static func childEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !secretVariables.contains($0.key) }
    }

    private static func finish(_ bytes: inout [UInt8], origin: String) throws -> SecretBytes {
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw LifeboatError(.usage, "the passphrase from \(origin) is empty") }
        return SecretBytes(consuming: &bytes)
    }
}
