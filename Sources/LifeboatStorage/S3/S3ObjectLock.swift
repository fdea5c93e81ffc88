import Foundation
import LifeboatCore

/// One entry of ListObjectVersions (full key, prefix included).
package struct S3ObjectVersion {
    package var key: String
    package var versionID: String
    package var isDeleteMarker: Bool
    package var isLatest: Bool
    package var size: Int
}

/// Object Lock and versioned reads for S3, written against `S3Requests` (S3Requests.swift)
/// and never against `S3Backend`: the backend calls into them, they only send requests.
///
/// With Object Lock the bucket keeps versions: a DELETE by key, say by an attacker holding
/// credentials, only adds a delete marker; the locked version survives but a GET by key
/// answers 404. On a versioned bucket this backend therefore reads *through* delete markers:
/// listings come from ListObjectVersions (a key counts while any of its versions holds data),
/// and a GET, ranged GET or HEAD answering 404 retries the newest version that is not a delete
/// marker, by versionId. Deleting (prune, forget) removes every version by versionId, so data
/// is really gone, and a version still under retention is reported as `ObjectRetained`
/// instead of failing the run. Lock objects (`locks/`) are exempt: they are never locked, are
/// deleted by key, and a deleted lock stays deleted.
extension S3Requests {
    // MARK: Writing locked objects

    /// Headers that lock a new object: mode, retain-until, and the Content-MD5 S3 demands on
    /// such PUTs (nil body: the initiation of a multipart upload, whose parts carry their own).
    package func lockHeaders(_ key: ObjectKey, body: [UInt8]?) -> [(String, String)] {
        guard let policy = lockState.runtime.policy, ObjectLockPolicy.applies(to: key.kind) else { return [] }
        var headers = [("x-amz-object-lock-mode", policy.mode.s3Name),
                       ("x-amz-object-lock-retain-until-date", RFC3339.format(policy.retainUntil()))]
        if let body { headers.append(("Content-MD5", MD5.base64(body))) }
        return headers
    }

    /// `create` with a lock policy: a new bucket is made with Object Lock enabled; an existing
    /// one must already have it (it cannot be added to most buckets afterwards).
    package func createWithObjectLock() throws {
        try scrubbing {
            let head = try request("HEAD", key: nil)
            switch head.response.status {
            case 200:
                break
            case 404:
                var body: [UInt8] = []
                if s3.region != "us-east-1" {
                    body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(S3XML.escape(s3.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
                }
                let made = try request("PUT", key: nil, headers: [("x-amz-bucket-object-lock-enabled", "true")], body: body,
                                    contentType: body.isEmpty ? nil : "application/xml")
                if made.response.status != 200 && errorCode(made.response) != "BucketAlreadyOwnedByYou" {
                    throw failure(made.response, "create bucket \(s3.bucket) with Object Lock", key: nil, attempts: made.attempts, seconds: made.seconds)
                }
            default:
                throw failure(head.response, "check bucket \(s3.bucket)", key: nil, attempts: head.attempts, seconds: head.seconds)
            }
            guard try objectLockEnabled() else {
                throw LifeboatError(.usage, "bucket \(s3.bucket) at \(s3.authority) exists without Object Lock, so objects cannot be locked in it; give 'lifeboat init --object-lock' a new bucket name (it creates the bucket with Object Lock), or enable Object Lock on this bucket first")
            }
            lockState.setVersioned(true)
        }
    }

    /// GetObjectLockConfiguration: is Object Lock enabled on the bucket?
    package func objectLockEnabled() throws -> Bool {
        let r = try request("GET", key: nil, query: [("object-lock", "")])
        switch r.response.status {
        case 200:
            return S3XML.value("ObjectLockEnabled", in: String(decoding: r.response.body, as: UTF8.self)) == "Enabled"
        case 404 where errorCode(r.response) != "NoSuchBucket":
            return false  // ObjectLockConfigurationNotFoundError
        case 400, 501:
            return false  // servers without Object Lock (NotImplemented)
        default:
            throw failure(r.response, "read the Object Lock configuration of", key: nil, attempts: r.attempts, seconds: r.seconds)
        }
    }

    // MARK: Versioned reads

    /// GetBucketVersioning, asked once per backend. Any refusal (no permission, a server
    /// without versioning) means "not versioned": reads then behave exactly as before.
    package func isVersioned() throws -> Bool {
        if let known = lockState.versioned { return known }
        let r = try request("GET", key: nil, query: [("versioning", "")])
        let status = r.response.status == 200 ? S3XML.value("Status", in: String(decoding: r.response.body, as: UTF8.self)) : nil
        let versioned = status == "Enabled" || status == "Suspended"
        lockState.setVersioned(versioned)
        return versioned
    }

    /// Kinds read through delete markers: all but locks, and only on versioned buckets.
    package func readsVersions(_ kind: ObjectKind) throws -> Bool {
        try kind != .locks && isVersioned()
    }

    /// ListObjectVersions under `prefix` (full key), every page.
    package func listVersions(prefix: String) throws -> [S3ObjectVersion] {
        var out: [S3ObjectVersion] = []
        var keyMarker: String?
        var versionMarker: String?
        repeat {
            var query = [("versions", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let versionMarker { query.append(("version-id-marker", versionMarker)) }
            let r = try request("GET", key: nil, query: query)
            guard r.response.status == 200 else {
                throw failure(r.response, "list the versions of \(prefix) in", key: nil, attempts: r.attempts, seconds: r.seconds)
            }
            let xml = String(decoding: r.response.body, as: UTF8.self)[...]
            for (tag, marker) in [("Version", false), ("DeleteMarker", true)] {
                for block in S3XML.blocks(tag, in: xml) {
                    guard let key = S3XML.value("Key", in: block), let id = S3XML.value("VersionId", in: block) else { continue }
                    out.append(S3ObjectVersion(key: key, versionID: id, isDeleteMarker: marker,
                                               isLatest: S3XML.value("IsLatest", in: block) == "true",
                                               size: S3XML.value("Size", in: block).flatMap { Int($0) } ?? 0))
                }
            }
            let truncated = S3XML.value("IsTruncated", in: xml) == "true"
            keyMarker = truncated ? S3XML.value("NextKeyMarker", in: xml) : nil
            versionMarker = truncated ? S3XML.value("NextVersionIdMarker", in: xml) : nil
            if truncated && keyMarker == nil {
                throw LifeboatError(.network, "\(s3.authority) sent a truncated version listing without a marker; the server is not S3-compatible enough")
            }
        } while keyMarker != nil
        return out
    }

    /// The versions of exactly this object, newest first (S3 lists each key's versions so).
    package func versions(of key: ObjectKey) throws -> [S3ObjectVersion] {
        let full = s3.keyPrefix(key.path)
        return try listVersions(prefix: full).filter { $0.key == full }
    }

    /// The newest version holding data of an object whose GET by key answered 404: hidden
    /// behind a delete marker. nil on unversioned buckets and for objects really gone.
    package func hiddenVersion(_ key: ObjectKey) throws -> (versionID: String, size: Int)? {
        guard try readsVersions(key.kind) else { return nil }
        guard let v = try versions(of: key).first(where: { !$0.isDeleteMarker }) else { return nil }
        return (v.versionID, v.size)
    }

    package func getVersion(_ key: ObjectKey, _ versionID: String) throws -> [UInt8] {
        let r = try request("GET", key: key.path, query: [("versionId", versionID)])
        guard r.response.status == 200 else { throw failure(r.response, "read a version of", key: key, attempts: r.attempts, seconds: r.seconds) }
        lockState.noteHiddenRead(key)
        return r.response.body
    }

    /// Every key of a kind that still has a version holding data (newest version's size).
    package func listVersioned(_ kind: ObjectKind) throws -> [ObjectInfo] {
        var seen: [String: ObjectInfo] = [:]
        for v in try listVersions(prefix: s3.keyPrefix(kind.rawValue + "/")) where !v.isDeleteMarker {
            guard let relative = s3.relativeKey(v.key), seen[relative] == nil,
                  let key = Self.key(fromPath: relative), key.kind == kind else { continue }
            seen[relative] = ObjectInfo(key: key, size: v.size)
        }
        return Array(seen.values)
    }

    // MARK: Retention

    /// Mode and retain-until of one version (HEAD; GetObjectRetention is not on every server).
    package func retention(_ key: ObjectKey, versionID: String?) throws -> (mode: String, until: Date)? {
        let r = try request("HEAD", key: key.path, query: versionID.map { [("versionId", $0)] } ?? [])
        guard r.response.status == 200 else {
            if r.response.status == 404 { return nil }
            throw failure(r.response, "read the retention of", key: key, attempts: r.attempts, seconds: r.seconds)
        }
        guard let until = r.response.headers["x-amz-object-lock-retain-until-date"].flatMap(RFC3339.parse) else { return nil }
        return (r.response.headers["x-amz-object-lock-mode"] ?? "unknown", until)
    }

    /// Deletes every version of an object, so its data is really gone. A version still under
    /// retention (compliance, or governance without --bypass-governance) stays, with every
    /// other version of that key: the object remains readable and `ObjectRetained` says until when.
    package func deleteVersions(_ key: ObjectKey) throws {
        let versions = try versions(of: key)
        guard versions.contains(where: { !$0.isDeleteMarker }) else { throw missingError(key) }
        let bypass = lockState.runtime.bypassGovernance ? [("x-amz-bypass-governance-retention", "true")] : []
        var retained: [(mode: String, until: Date)] = []
        for v in versions where !v.isDeleteMarker {
            let r = try request("DELETE", key: key.path, query: [("versionId", v.versionID)], headers: bypass)
            switch r.response.status {
            case 200, 204:
                continue
            case 403:
                if let held = try retention(key, versionID: v.versionID), held.until > Date() {
                    retained.append(held)
                    continue
                }
                throw failure(r.response, "delete a version of", key: key, attempts: r.attempts, seconds: r.seconds)
            default:
                throw failure(r.response, "delete a version of", key: key, attempts: r.attempts, seconds: r.seconds)
            }
        }
        if let last = retained.max(by: { $0.until < $1.until }) {
            throw ObjectRetained(key: key, until: last.until, mode: last.mode, location: location)
        }
        // Delete markers of a key with no data left are clutter; removing them is harmless.
        for m in versions where m.isDeleteMarker {
            _ = try? request("DELETE", key: key.path, query: [("versionId", m.versionID)], retry: .once)
        }
    }

    // MARK: Status

    /// Retain-until state of this bucket's lockable objects (the backend's `objectLockStatus`).
    package func lockStatus() throws -> [ObjectLockStatus] {
        try scrubbing {
            let enabled = try objectLockEnabled()
            let versioned = try isVersioned()
            var status = ObjectLockStatus(location: location, enabled: enabled, versioned: versioned, locked: 0, unlocked: 0,
                                          hiddenByDeleteMarker: 0, modes: [], earliestRetainUntil: nil, latestRetainUntil: nil)
            var newest: [(ObjectKey, String?)] = []
            for kind in ObjectKind.allCases where ObjectLockPolicy.applies(to: kind) {
                if !versioned {
                    newest += try list(kind).map { ($0.key, nil) }
                    continue
                }
                let prefix = kind == .config ? s3.keyPrefix("config") : s3.keyPrefix(kind.rawValue + "/")
                var byKey: [String: [S3ObjectVersion]] = [:]
                var order: [String] = []
                for v in try listVersions(prefix: prefix) {
                    if byKey[v.key] == nil { order.append(v.key) }
                    byKey[v.key, default: []].append(v)
                }
                for full in order {
                    guard let vs = byKey[full], let relative = s3.relativeKey(full), let key = Self.key(fromPath: relative),
                          key.kind == kind, let data = vs.first(where: { !$0.isDeleteMarker }) else { continue }
                    if vs.contains(where: { $0.isDeleteMarker && $0.isLatest }) { status.hiddenByDeleteMarker += 1 }
                    newest.append((key, data.versionID))
                }
            }
            guard enabled else {
                status.unlocked = newest.count
                return [status]
            }
            let found = Locked<[(mode: String, until: Date)?]>(Array(repeating: nil, count: newest.count))
            let items = newest
            try Parallel.forEach(count: items.count, workers: preferredConcurrency) { _, i in
                let held = try retention(items[i].0, versionID: items[i].1)
                found.withLock { $0[i] = held }
            }
            let now = Date()
            let active = found.current.compactMap { $0 }.filter { $0.until > now }
            status.locked = active.count
            status.unlocked = newest.count - active.count
            status.modes = Set(active.map { $0.mode.lowercased() }).sorted()
            status.earliestRetainUntil = active.map(\.until).min().map { RFC3339.format($0) }
            status.latestRetainUntil = active.map(\.until).max().map { RFC3339.format($0) }
            return [status]
        }
    }
}
