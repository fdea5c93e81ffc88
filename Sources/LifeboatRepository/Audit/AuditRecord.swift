import Foundation
import LifeboatCore
import LifeboatStorage

/// A value in an audit record's details: a count, or a short identifier (snapshot id, path).
/// Never a secret and never database content.
public enum AuditValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

public enum AuditResult: String, Codable, Sendable {
    case ok
    case failed
    /// Finished, but part of it failed (a replica behind, a drill target missed).
    case incomplete
}

/// One line of the audit trail. `prev` is the SHA-256 of the previous line of the same chain
/// (64 zeros for the first), so editing, removing or reordering a line breaks the chain.
/// A chain is one local log: one user on one host for one repository.
public struct AuditRecord: Codable, Sendable {
    public var chain: String
    public var seq: Int
    public var prev: String
    public var time: String
    public var operation: String
    public var source: String?
    public var result: AuditResult
    /// For failures: the error kind and its one-line message (never secret by construction).
    public var error: String?
    public var host: String
    public var user: String
    public var repository: String
    public var details: [String: AuditValue]

    public static let genesis = String(repeating: "0", count: 64)

    /// The exact bytes of the line (sorted keys, no newline): what is hashed and stored.
    public func encodedLine() throws -> [UInt8] {
        try JSONCoding.encode(self)
    }

    public static func decode(line: [UInt8]) throws -> AuditRecord {
        do { return try JSONCoding.decode(AuditRecord.self, from: line) } catch {
            throw LifeboatError(.corrupt, "an audit record is not valid JSON of the expected shape")
        }
    }
}

/// Conventional detail keys, so `audit verify` can cross-check snapshots against the trail.
public enum AuditDetail {
    /// The full id of a snapshot a `snapshot` operation created.
    public static let snapshot = "snapshot"
    /// Comma-separated full ids of the snapshots a `forget`/`prune`/`shred` removed.
    public static let removedSnapshots = "removed_snapshots"
    /// The object name of the attestation a `verify` stored.
    public static let attestation = "attestation"
}
