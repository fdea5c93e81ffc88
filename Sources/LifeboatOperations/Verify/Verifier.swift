import Foundation
import LifeboatCore
import LifeboatRepository

/// Restores a snapshot into scratch space and runs SQLite's own checks on the image:
/// `PRAGMA integrity_check` (every core) and, where the schema declares foreign keys,
/// `PRAGMA foreign_key_check`. The result is an attestation of the image; the scratch copy
/// is removed whatever happens.
///
/// Damage the restore itself proves (a page that fails authentication, a page list that does
/// not match the image digest) is an image that cannot be rebuilt: a failed attestation too.
/// Anything else (the network, a full scratch disk) says nothing about the image and is
/// thrown, not recorded.
package struct Verifier {
    package let repo: Repository
    /// A directory with room for one copy of the database.
    package let scratch: String
    package var progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil

    package init(repo: Repository, scratch: String) {
        self.repo = repo
        self.scratch = scratch
    }

    package func verify(_ record: SnapshotRecord) throws -> Attestation {
        let started = Date()
        let target = (scratch as NSString).appendingPathComponent("lifeboat-verify-\(record.shortID)-\(getpid()).db")
        defer { try? FileManager.default.removeItem(atPath: target) }
        var options = Restorer.Options()
        options.force = true
        // This run's whole point is SQLite's checks: they run below, where their problems are
        // recorded rather than thrown.
        options.integrityCheck = false
        options.progress = progress
        func attestation(_ outcome: Attestation.Outcome, _ problems: [String], foreignKeys: String) -> Attestation {
            Attestation(snapshot: record.id, source: record.manifest.source, imageDigest: record.manifest.imageDigest,
                        outcome: outcome, problems: Array(problems.prefix(10)), foreignKeys: foreignKeys,
                        checkedAtMs: Date().unixMilliseconds, seconds: Date().timeIntervalSince(started))
        }
        do {
            _ = try Restorer(repository: repo, options: options).restore(record, to: target)
        } catch let e as LifeboatError where e.kind == .corrupt {
            return attestation(.failed, ["the image cannot be rebuilt: \(e.message)"], foreignKeys: "not run")
        }
        let integrity = try IntegrityCheck.run(path: target)
        let foreignKeys = try Self.foreignKeyCheck(target)
        var problems = integrity == ["ok"] ? [] : integrity
        if case .failed(let lines) = foreignKeys { problems += lines }
        return attestation(problems.isEmpty ? .passed : .failed, problems, foreignKeys: foreignKeys.label)
    }

    package enum ForeignKeys {
        case none, ok
        case failed([String])

        var label: String {
            switch self {
            case .none: return "none"
            case .ok: return "ok"
            case .failed: return "failed"
            }
        }
    }

    /// `PRAGMA foreign_key_check` when any table declares a foreign key (SQLite enforces them
    /// only when asked, so an application may have stored rows that break them).
    package static func foreignKeyCheck(_ path: String) throws -> ForeignKeys {
        let db = try SQLiteConnection(path: path, mode: .readOnly, immutable: true)
        let declared = try db.scalar("SELECT count(*) FROM sqlite_schema AS t, pragma_foreign_key_list(t.name) WHERE t.type = 'table'")
        guard case .integer(let n)? = declared, n > 0 else { return .none }
        let rows = try db.query("PRAGMA foreign_key_check")
        if rows.isEmpty { return .ok }
        let lines = rows.prefix(10).map { row in
            "foreign key violation: table \(row.first?.text ?? "?") row \(row.count > 1 ? row[1].description : "?") refers to a missing row of \(row.count > 2 ? row[2].text ?? "?" : "?")"
        }
        return .failed(lines + (rows.count > 10 ? ["… \(rows.count - 10) more foreign key violation(s)"] : []))
    }
}
