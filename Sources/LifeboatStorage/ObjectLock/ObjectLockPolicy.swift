import Foundation
import LifeboatCore

/// S3 Object Lock retention modes. Compliance: nobody, not even the bucket owner, can delete a
/// locked version or shorten its retention. Governance: users with
/// s3:BypassGovernanceRetention can, when they ask for it explicitly.
public enum ObjectLockMode: String, Codable, Sendable, CaseIterable {
    case compliance
    case governance

    /// The spelling S3 uses in headers and XML.
    package var s3Name: String { rawValue.uppercased() }
}

/// How new objects are locked: mode and retention in days from the time of writing.
/// Stored in the repository config (encrypted), so every later snapshot applies it.
public struct ObjectLockPolicy: Codable, Sendable, Equatable, CustomStringConvertible {
    public var mode: ObjectLockMode
    public var retainDays: Int

    package enum CodingKeys: String, CodingKey {
        case mode
        case retainDays = "retain_days"
    }

    /// S3 accepts retention up to 100 years; a typo of a few zeros should not lock data forever.
    public static let maxRetainDays = 36500

    public init(mode: ObjectLockMode, retainDays: Int) throws {
        guard (1...Self.maxRetainDays).contains(retainDays) else {
            throw LifeboatError(.usage, "--retain must be 1 to \(Self.maxRetainDays) days, got \(retainDays)")
        }
        self.mode = mode
        self.retainDays = retainDays
    }

    /// From `--object-lock MODE --retain DAYS`: both or neither.
    public static func parse(mode: String?, retain: String?) throws -> ObjectLockPolicy? {
        switch (mode, retain) {
        case (nil, nil):
            return nil
        case let (m?, r?):
            guard let parsedMode = ObjectLockMode(rawValue: m.lowercased()) else {
                throw LifeboatError(.usage, "--object-lock must be compliance or governance, got '\(m)'")
            }
            return try ObjectLockPolicy(mode: parsedMode, retainDays: try parseDays(r))
        case (_?, nil):
            throw LifeboatError(.usage, "--object-lock needs --retain DAYS (how long each object stays locked)")
        case (nil, _?):
            throw LifeboatError(.usage, "--retain needs --object-lock compliance|governance")
        }
    }

    /// "30", "30d" or a duration Units understands ("4w"), rounded up to whole days.
    package static func parseDays(_ text: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let d = Int(t.hasSuffix("d") ? String(t.dropLast()) : t) { return d }
        guard let seconds = try? Units.parseDuration(t), seconds > 0 else {
            throw LifeboatError(.usage, "--retain wants a number of days (e.g. 30), got '\(text)'")
        }
        return Int((seconds / 86400).rounded(.up))
    }

    /// Retain-until for an object written at `now`: whole seconds, as S3 stores them.
    public func retainUntil(from now: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(retainDays) * 86400).rounded(.up))
    }

    public var description: String { "\(mode.rawValue), \(retainDays) day\(retainDays == 1 ? "" : "s")" }

    /// Lock objects and audit records are not locked: a lock must be removable by its owner
    /// (else a crashed run would block the repository for the whole retention), and audit
    /// records are a hash chain whose tampering `audit verify` detects anyway. Source keys are
    /// not locked either: `shred` must be able to destroy them (crypto-shredding) at once.
    public static func applies(to kind: ObjectKind) -> Bool {
        kind != .locks && kind != .audit && kind != .sourceKeys
    }
}

/// What the backends use at run time: the policy for new objects (from the config or the
/// command line) and whether prune may bypass governance retention.
public struct ObjectLockRuntime: Sendable, Equatable {
    public var policy: ObjectLockPolicy?
    public var bypassGovernance: Bool

    public init(policy: ObjectLockPolicy? = nil, bypassGovernance: Bool = false) {
        self.policy = policy
        self.bypassGovernance = bypassGovernance
    }
}

/// An object prune or forget must not delete yet: a version of it is under retention.
public struct ObjectRetained: Error, Sendable {
    public var key: ObjectKey
    public var until: Date
    public var mode: String
    public var location: String

    public var lifeboatError: LifeboatError {
        LifeboatError(.incomplete, "object \(key.path) in \(location) is under object lock (\(mode.lowercased())) until \(RFC3339.format(until)); it can be deleted after that date")
    }
}

/// Retain-until summary of one S3 copy, for `check --json` (`object_lock`) and `status`.
public struct ObjectLockStatus: Codable, Sendable, Equatable {
    public var location: String
    /// Whether the bucket has Object Lock enabled.
    public var enabled: Bool
    /// The bucket keeps versions (always true with Object Lock).
    public var versioned: Bool
    /// Objects (newest readable version of each key) under retention now.
    public var locked: Int
    /// Objects without retention, or whose retention has passed.
    public var unlocked: Int
    /// Keys whose newest version is a delete marker but an older version survives.
    public var hiddenByDeleteMarker: Int
    public var modes: [String]
    public var earliestRetainUntil: String?
    public var latestRetainUntil: String?

    package enum CodingKeys: String, CodingKey {
        case location, enabled, versioned, locked, unlocked, modes
        case hiddenByDeleteMarker = "hidden_by_delete_marker"
        case earliestRetainUntil = "earliest_retain_until"
        case latestRetainUntil = "latest_retain_until"
    }
}
