import Foundation

/// Every failure Lifeboat reports: one line that says what went wrong and what to do, plus
/// the exit code a scheduler can act on. Messages never contain secrets or database content.
public struct LifeboatError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case usage              // bad arguments or configuration
        case repositoryMissing  // no repository at the given location
        case wrongPassword      // no key slot opens with the given passphrase
        case notFound           // snapshot, source, object or file does not exist
        case corrupt            // stored data failed authentication or does not parse
        case io                 // local file system error
        case diskFull           // ENOSPC / EDQUOT
        case network            // endpoint unreachable, timeouts, 5xx after retries
        case tls                // certificate or TLS negotiation refused
        case auth               // credentials refused (403)
        case database           // the SQLite source cannot be read or is not SQLite
        case locked             // another run holds the lock
        case exists             // refusing to overwrite something that exists
        case incomplete         // the run finished but part of it failed (a replica behind)
        case targetMissed       // a drill ran but missed its RTO/RPO target
        case internalError
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Exit codes follow restic's where they overlap, so existing cron wrappers keep working.
    public var exitCode: Int32 {
        switch kind {
        case .usage: return 64  // EX_USAGE, as swift-argument-parser uses for bad arguments
        case .incomplete: return 3
        case .repositoryMissing: return 10
        case .locked: return 11
        case .wrongPassword: return 12
        case .corrupt: return 13
        case .targetMissed: return 20
        default: return 1
        }
    }

    /// Whether this error proves the data damaged (it failed authentication or its hash, or the
    /// store says the object does not exist), as opposed to not having been read (unreachable,
    /// out of retries, refused): only proof may be reported as damage (exit 13).
    public var provesDamage: Bool { kind == .corrupt || kind == .notFound }

    /// Maps an errno from a file operation to a readable error naming the path.
    public static func posix(_ code: Int32, _ what: String, path: String) -> LifeboatError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT:
            return LifeboatError(.diskFull, "\(what) \(path): no space left on device; free space and run again (nothing was committed)")
        case ENOENT:
            return LifeboatError(.notFound, "\(what) \(path): no such file or directory")
        case EACCES, EPERM:
            return LifeboatError(.io, "\(what) \(path): permission denied; check the owner and mode of the path")
        default:
            return LifeboatError(.io, "\(what) \(path): \(reason)")
        }
    }
}
