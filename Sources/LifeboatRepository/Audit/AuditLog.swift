import Foundation
import LifeboatCore
import LifeboatStorage

/// The audit trail of one repository, kept in two places so that one attacker rarely holds
/// both:
/// - locally, an append-only JSONL file per repository, `<dir>/<repository id>.jsonl`, where
///   dir is $LIFEBOAT_AUDIT_DIR, else $XDG_STATE_HOME/lifeboat/audit, else
///   ~/.local/state/lifeboat/audit (not next to the repository: whoever can delete backups
///   must not also be able to delete the record of it);
/// - in the repository, each line as an encrypted object under audit/ (content-addressed, so
///   it is never overwritten; without the key it can be neither read nor forged).
/// Lines are hash-chained (see `AuditRecord`). Appends take an exclusive flock on the file,
/// so concurrent runs on one host never fork the chain.
public struct AuditLog: Sendable {
    public let repository: Repository
    public let path: String

    public init(repository: Repository, directory: String? = nil) {
        self.repository = repository
        self.path = (directory ?? Self.defaultDirectory) + "/" + repository.config.id + ".jsonl"
    }

    public static var defaultDirectory: String {
        if let d = ProcessInfo.environmentValue("LIFEBOAT_AUDIT_DIR") { return d }
        if let s = ProcessInfo.environmentValue("XDG_STATE_HOME") { return s + "/lifeboat/audit" }
        let home = ProcessInfo.environmentValue("HOME") ?? NSHomeDirectory()
        return home + "/.local/state/lifeboat/audit"
    }

    /// Appends a record locally and to the repository. Never throws: an operation that has
    /// happened must not be reported as failed because its record could not be written, so
    /// a failure becomes a warning on stderr (cron mail shows it) and `audit verify` fails.
    /// `storeInRepository` false: the local line only (a repository known to be read-only).
    @discardableResult
    public func record(operation: String, source: String?, result: AuditResult,
                       details: [String: AuditValue] = [:], error: LifeboatError? = nil, storeInRepository: Bool = true) -> AuditRecord? {
        do {
            let (record, line) = try appendLocal(operation: operation, source: source, result: result, details: details, error: error)
            guard storeInRepository else { return record }
            do { try repository.storeObject(.audit, line) } catch let e as LifeboatError where e.kind == .network {
                // The store stopped answering, which is most likely why the run fails: one note
                // on the run's error line rather than a warning of its own.
                Warnings.hold("the audit record of this \(operation) is only in the local log (\(path)) as the repository did not answer; 'lifeboat audit verify' will report it")
            } catch let e as LifeboatError {
                Warnings.emit("the audit record of this \(operation) could not be stored in the repository (\(e.message)); 'lifeboat audit verify' will report it")
            }
            return record
        } catch {
            let why = (error as? LifeboatError)?.message ?? "\(error)"
            Warnings.emit("the audit record of this \(operation) could not be written to \(path): \(why)")
            return nil
        }
    }

    /// Appends one line to the local chain under an exclusive lock; returns it.
    package func appendLocal(operation: String, source: String?, result: AuditResult,
                     details: [String: AuditValue], error: LifeboatError?) throws -> (AuditRecord, [UInt8]) {
        try Self.makeDirectories((path as NSString).deletingLastPathComponent)
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot open the audit log", path: path) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw LifeboatError.posix(errno, "cannot lock the audit log", path: path) }
        defer { flock(fd, LOCK_UN) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LifeboatError.posix(errno, "cannot read the audit log", path: path) }
        if st.st_mode & 0o077 != 0 {
            Warnings.emit("audit log \(path) is accessible by other users (mode \(String(st.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        }

        var chain = Hex.encode(try SecureRandom.bytes(8))
        var seq = 1
        var prev = AuditRecord.genesis
        if let last = try Self.lastLine(fd: fd, size: Int(st.st_size), path: path) {
            let previous = try AuditRecord.decode(line: last)
            chain = previous.chain
            seq = previous.seq + 1
            prev = SHA256.hex(last)
        }
        var record = AuditRecord(chain: chain, seq: seq, prev: prev, time: RFC3339.format(Date(), fractional: true),
                                 operation: operation, source: source, result: result, error: nil,
                                 host: HostIdentity.hostName, user: HostIdentity.userName,
                                 repository: repository.config.id, details: details)
        if let error { record.error = "\(error.kind.rawValue): \(error.message)" }
        let line = try record.encodedLine()
        try FileIO.writeAll(fd: fd, line + [0x0a], path: path)
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync the audit log", path: path) }
        return (record, line)
    }

    /// The last complete line of the file (without its newline), or nil for an empty file.
    package static func lastLine(fd: Int32, size: Int, path: String) throws -> [UInt8]? {
        guard size > 0 else { return nil }
        let window = min(size, 1 << 20)
        let tail = try FileIO.readExactly(fd: fd, offset: size - window, count: window, path: path)
        guard tail.last == 0x0a else {
            throw LifeboatError(.corrupt, "the audit log \(path) ends in a partial line; run 'lifeboat audit verify'")
        }
        let body = tail.dropLast()
        let start = body.lastIndex(of: 0x0a).map { $0 + 1 } ?? body.startIndex
        guard start > body.startIndex || window == size else {
            throw LifeboatError(.corrupt, "the last line of the audit log \(path) is longer than 1 MiB")
        }
        return Array(body[start...])
    }

    package static func makeDirectories(_ dir: String) throws {
        if FileIO.fileExists(dir) { return }
        try makeDirectories((dir as NSString).deletingLastPathComponent)
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw LifeboatError.posix(errno, "cannot create directory", path: dir)
        }
    }

    // MARK: reading

    /// Local lines as stored (for hashing) and decoded where they parse.
    public func readLocal() throws -> [[UInt8]] {
        guard FileIO.fileExists(path) else { return [] }
        let bytes = try FileIO.readFile(path)
        var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Every record stored in the repository, as its exact line bytes. Objects that fail
    /// authentication are returned through `damaged`; one that could not be read (store
    /// unreachable) ends the reading, since it proves nothing about the trail.
    public func readRepository(damaged: (String, LifeboatError) -> Void) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for info in try repository.backend.list(.audit) {
            do { out.append(try repository.loadObject(info.key)) } catch let e as LifeboatError where e.provesDamage { damaged(info.key.name, e) }
        }
        return out
    }
}
