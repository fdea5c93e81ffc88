import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// The settings of `lifeboat.yml`: what to back up, where to, how long to keep it, and the
/// targets to meet. It holds *references* to secrets (a file, a command, an environment
/// variable), never secrets: a file that looks like it contains one is refused at load time.
/// Command-line flags and environment variables override what the file says.
public struct LifeboatConfig: Sendable {
    /// Where a secret comes from; exactly one field is set.
    public enum SecretReference: Sendable, Equatable {
        case file(String)
        case command(String)
        case environment(String)
    }

    public struct Source: Sendable {
        public var name: String
        public var path: String
        /// Seconds; nil means "use the defaults" (and then, no target).
        public var rpo: Double?
        public var rto: Double?
        /// How long the newest snapshot may stay without a `lifeboat verify` (seconds).
        public var verifyWithin: Double?
        /// How long since the last passed drill of the source before `status` calls it overdue (seconds).
        public var drillWithin: Double?
        public var retention: RetentionPolicy?
        /// Line of the entry in the file, for messages.
        public var line: Int
    }

    /// The file this was read from.
    public var path: String
    /// Repository locations, primary first (directories or s3:// URLs, resolved by the CLI).
    public var repositories: [String] = []
    public var password: SecretReference?
    public var sources: [Source] = []
    /// Default retention for sources that have none of their own.
    public var retention: RetentionPolicy?
    public var rpo: Double?
    public var rto: Double?
    public var verifyWithin: Double?
    public var drillWithin: Double?
    public var metricsFile: String?
    /// The drill report directory (or its history.jsonl) `status` and `drill` read and write.
    public var drillHistory: String?
    /// S3 Object Lock for init and snapshots (flags override it; it overrides the repository's).
    public var objectLock: ObjectLockPolicy?
    /// A lock not refreshed for this long is stale (seconds).
    public var lockStaleAfter: Double?

    public init(path: String) { self.path = path }

    public func source(named name: String) -> Source? { sources.first { $0.name == name } }

    /// RPO target of a source: its own, else the default.
    public func rpo(for source: String) -> Double? { self.source(named: source)?.rpo ?? rpo }
    public func rto(for source: String) -> Double? { self.source(named: source)?.rto ?? rto }
    public func verifyWithin(for source: String) -> Double? { self.source(named: source)?.verifyWithin ?? verifyWithin }
    public func drillWithin(for source: String) -> Double? { self.source(named: source)?.drillWithin ?? drillWithin }
    public func retention(for source: String) -> RetentionPolicy? { self.source(named: source)?.retention ?? retention }
}

extension LifeboatConfig.SecretReference {
    /// Reads the secret. Errors name the reference, never its value.
    public func resolve(purpose: String) throws -> SecretBytes {
        switch self {
        case .file(let path):
            return try PassphraseSource.readFile(path, variable: "the \(purpose) file in the config")
        case .command(let command):
            return try PassphraseSource.runCommand(command, variable: "the \(purpose) command in the config")
        case .environment(let name):
            guard let value = ProcessInfo.environmentValue(name) else {
                throw LifeboatError(.usage, "the config takes the \(purpose) from the environment variable \(name), which is not set")
            }
            var bytes = Array(value.utf8)
            return SecretBytes(consuming: &bytes)
        }
    }
}
