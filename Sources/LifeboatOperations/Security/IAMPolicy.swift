import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Minimal S3 IAM policies for the roles Lifeboat's operations need, so each machine or job
/// gets only the rights its role uses:
/// - backup: read everything, write new data, index, snapshots, locks and audit records;
///   delete only under locks/ (a run removes its own lock object, which holds no data); no
///   other delete, and no write to keys/ or config (it cannot lock the owners out);
/// - prune: backup's rights plus delete of data, index, snapshots and locks (never of keys/,
///   config or audit/: the audit trail outlives retention);
/// - restore: read everything, write only audit records (a restore is audited) and damage
///   records (a pack it could not read, so later snapshots store its pages again);
/// - admin: everything under the prefix (init, key add/remove/rotate).
/// `repair` stores lost pages again with the backup role's rights; `repair --from` and `sync
/// --repair` replace a damaged object by deleting it first, which takes the prune role.
/// `put` never overwrites (objects are content-addressed), so PutObject cannot destroy data.
public enum IAMPolicy {
    public enum Role: String, CaseIterable, Sendable {
        case backup, prune, restore, admin
    }

    package struct Statement: Encodable {
        package var Sid: String
        package var Effect = "Allow"
        package var Action: [String]
        package var Resource: [String]
        package var Condition: [String: [String: [String]]]?
    }

    package struct Document: Encodable {
        package var Version = "2012-10-17"
        package var Statement: [Statement]
    }

    /// The policy as indented JSON, for a person to read or paste into a console.
    public static func document(role: Role, bucket: String, prefix: String?, objectLock: Bool = false) throws -> String {
        // AWS spells the keys ("Sid", "Statement"): they are printed as written.
        let doc = try policy(role: role, bucket: bucket, prefix: prefix, objectLock: objectLock)
        return String(decoding: try JSONCoding.encode(doc, pretty: true, keys: .asWritten), as: UTF8.self)
    }

    package static func policy(role: Role, bucket: String, prefix: String?, objectLock: Bool = false) throws -> Document {
        guard isValidBucket(bucket) else {
            throw LifeboatError(.usage, "'\(bucket)' is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')")
        }
        var p = prefix ?? ""
        while p.hasPrefix("/") { p.removeFirst() }
        while p.hasSuffix("/") { p.removeLast() }
        guard !p.contains("*"), !p.contains("?"), !p.contains("\""), !p.contains("\\") else {
            throw LifeboatError(.usage, "the prefix may not contain '*', '?', quotes or backslashes")
        }
        let base = p.isEmpty ? "" : p + "/"
        let bucketARN = "arn:aws:s3:::\(bucket)"
        func objects(_ kinds: [String]) -> [String] { kinds.map { "\(bucketARN)/\(base)\($0)" } }

        var list = Statement(Sid: "ListRepository", Action: ["s3:ListBucket"], Resource: [bucketARN])
        if !p.isEmpty { list.Condition = ["StringLike": ["s3:prefix": [base + "*"]]] }
        var statements = [
            list,
            Statement(Sid: "LocateBucket", Action: ["s3:GetBucketLocation"], Resource: [bucketARN]),
            Statement(Sid: "ReadRepository", Action: ["s3:GetObject"], Resource: objects(["*"])),
        ]
        // sourcekeys/: a source with its own key gets a new one at its first snapshot after
        // `key rotate` or `shred` (PUT never overwrites; only admin deletes, which is shred).
        // damaged/: records of damaged packs (check, snapshot, restore, repair), never overwritten.
        // attestations/: `lifeboat verify` records its result (backup role, as it runs nightly).
        // segments/: `lifeboat replicate` ships committed transactions (backup role: never deletes).
        let newData = ["data/*", "index/*", "snapshots/*", "locks/*", "audit/*", "sourcekeys/*", "damaged/*", "attestations/*", "segments/*"]
        switch role {
        case .backup:
            statements.append(Statement(Sid: "WriteNewObjects", Action: ["s3:PutObject"], Resource: objects(newData)))
            statements.append(Statement(Sid: "ReleaseOwnLocks", Action: ["s3:DeleteObject"], Resource: objects(["locks/*"])))
        case .prune:
            statements.append(Statement(Sid: "WriteNewObjects", Action: ["s3:PutObject"], Resource: objects(newData)))
            statements.append(Statement(Sid: "DeleteExpiredObjects", Action: ["s3:DeleteObject"],
                                        Resource: objects(["data/*", "index/*", "snapshots/*", "locks/*", "attestations/*", "segments/*"])))
        case .restore:
            statements.append(Statement(Sid: "WriteAuditAndDamageRecords", Action: ["s3:PutObject"], Resource: objects(["audit/*", "damaged/*"])))
        case .admin:
            statements.append(Statement(Sid: "ManageRepository", Action: ["s3:PutObject", "s3:DeleteObject"], Resource: objects(["*"])))
        }
        if objectLock { statements += objectLockStatements(role: role, bucketARN: bucketARN, objects: objects, newData: newData, base: base) }
        return Document(Statement: statements)
    }

    /// With S3 Object Lock (docs/s3.md): every role reads through delete markers (versions);
    /// writers set retention on what they PUT; prune deletes versions and reads retention.
    /// s3:BypassGovernanceRetention is never granted here: add it by hand for
    /// `prune --bypass-governance`, and only to the prune role.
    package static func objectLockStatements(role: Role, bucketARN: String, objects: ([String]) -> [String], newData: [String], base: String) -> [Statement] {
        var versions = Statement(Sid: "ListVersions", Action: ["s3:ListBucketVersions"], Resource: [bucketARN])
        if !base.isEmpty { versions.Condition = ["StringLike": ["s3:prefix": [base + "*"]]] }
        var out = [
            versions,
            Statement(Sid: "ReadLockConfiguration", Action: ["s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"], Resource: [bucketARN]),
            Statement(Sid: "ReadVersions", Action: ["s3:GetObjectVersion", "s3:GetObjectRetention"], Resource: objects(["*"])),
        ]
        switch role {
        case .backup:
            out.append(Statement(Sid: "LockNewObjects", Action: ["s3:PutObjectRetention"], Resource: objects(newData)))
        case .prune:
            out.append(Statement(Sid: "LockNewObjects", Action: ["s3:PutObjectRetention"], Resource: objects(newData)))
            out.append(Statement(Sid: "DeleteExpiredVersions", Action: ["s3:DeleteObjectVersion"],
                                 Resource: objects(["data/*", "index/*", "snapshots/*", "locks/*", "attestations/*", "segments/*"])))
        case .restore:
            break
        case .admin:
            out.append(Statement(Sid: "ManageLockedRepository", Action: ["s3:CreateBucket", "s3:PutObjectRetention", "s3:DeleteObjectVersion"],
                                 Resource: [bucketARN] + objects(["*"])))
        }
        return out
    }

    package static func isValidBucket(_ b: String) -> Bool {
        guard (3...63).contains(b.count), let first = b.first, let last = b.last,
              first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
        return b.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "." || $0 == "-" }
    }
}
