import Foundation
import LifeboatCore

/// Tunables of the S3 backend.
public struct S3Options: Sendable {
    /// Objects larger than this go up as multipart uploads.
    public var multipartThreshold: Int
    /// Size of each part but the last; S3 refuses parts under 5 MiB.
    public var partSize: Int
    /// HEAD before PUT, so "never overwrite" holds on servers that ignore If-None-Match.
    public var headBeforePut: Bool
    public var retry: RetryPolicy
    public var transport: TransportSettings
    /// Idle connections kept per backend (callers' thread count bounds the active ones).
    public var maxIdleConnections: Int
    /// Requests a caller should keep in flight (LIFEBOAT_S3_CONNECTIONS): uploads of a
    /// snapshot, and half of a restore's range reads (each restore worker holds one range).
    public var connections: Int = 4

    public static let minimumPartSize = 5 * 1024 * 1024

    public init(multipartThreshold: Int = 16 * 1024 * 1024, partSize: Int = 16 * 1024 * 1024, headBeforePut: Bool = true,
                retry: RetryPolicy = RetryPolicy(), transport: TransportSettings = TransportSettings(), maxIdleConnections: Int = 16) {
        self.multipartThreshold = multipartThreshold
        self.partSize = max(partSize, S3Options.minimumPartSize)
        self.headBeforePut = headBeforePut
        self.retry = retry
        self.transport = transport
        self.maxIdleConnections = maxIdleConnections
    }
}

/// A repository in an S3 bucket (AWS, MinIO, Ceph, R2, B2, Wasabi…), over TLS, signed with
/// SigV4 by libcurl. Every request carries the SHA-256 of its body in the signed
/// x-amz-content-sha256 header (never UNSIGNED-PAYLOAD), so S3 rejects a corrupted upload.
/// Snapshots only GET, HEAD, LIST and PUT (POST for multipart) new keys: writes use
/// `If-None-Match: *` (and a HEAD first), so write-only credentials suffice.
public struct S3Backend: Backend, CustomStringConvertible, CustomDebugStringConvertible {
    /// Several requests in flight hide the round-trip latency of each.
    public var preferredConcurrency: Int { options.connections }

    public let s3: S3Location
    public var location: String { s3.description }
    private let credentials: S3Credentials
    private let options: S3Options
    private let signing: SigV4Signing
    private let pool: CurlPool
    private var transport: TransportSettings
    /// Object Lock policy and what is known of the bucket's versioning (S3LockState.swift).
    package let lockState = S3LockState()
    /// The retry budget all requests of this backend share (RetryPolicy.swift).
    private let budget = RetryBudget()

    private static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The x-amz-content-sha256 of a PUT. Packs, index files and manifests are named by the
    /// SHA-256 of their bytes, so the name is that hash and is not computed a second time (it
    /// was 4 % of a first snapshot's CPU on S3); if a name ever did not match its bytes, S3
    /// would refuse the upload instead of storing it under a wrong name.
    package static func payloadHash(for key: ObjectKey, body: [UInt8]) -> String {
        let named = [.data, .index, .snapshots].contains(key.kind) && key.name.utf8.count == 64
            && key.name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        return named ? key.name : SHA256.hex(body)
    }

    public init(location: S3Location, credentials: S3Credentials, options: S3Options = S3Options()) {
        self.s3 = location
        self.credentials = credentials
        self.options = options
        self.signing = SigV4Signing(scope: "aws:amz:\(location.region):s3", accessKeyID: credentials.accessKeyID,
                                    secretAccessKey: credentials.secretAccessKey)
        self.pool = CurlPool(maxIdle: options.maxIdleConnections)
        var transport = options.transport
        // S3Location.parse only yields http for loopback hosts with the insecure flag set.
        transport.allowPlainHTTP = location.scheme == "http"
        self.transport = transport
    }

    public var description: String { "S3Backend(\(location))" }
    public var debugDescription: String { description }

    // MARK: Backend

    public func create() throws {
        if lockState.runtime.policy != nil { return try createWithObjectLock() }
        try scrubbing {
            let head = try send("HEAD", key: nil)
            switch head.response.status {
            case 200:
                return
            case 404:
                var body: [UInt8] = []
                if s3.region != "us-east-1" {
                    body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(S3XML.escape(s3.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
                }
                let made = try send("PUT", key: nil, body: body, contentType: body.isEmpty ? nil : "application/xml")
                let code = errorCode(made.response)
                if made.response.status == 200 || code == "BucketAlreadyOwnedByYou" { return }
                throw failure(made.response, "create bucket \(s3.bucket)", key: nil, attempts: made.attempts, seconds: made.seconds)
            default:
                throw failure(head.response, "check bucket \(s3.bucket)", key: nil, attempts: head.attempts, seconds: head.seconds)
            }
        }
    }

    public func put(_ key: ObjectKey, _ bytes: [UInt8]) throws {
        try scrubbing {
            if options.headBeforePut, try statUnscrubbed(key) != nil {
                throw existsError(key)
            }
            if bytes.count > options.multipartThreshold {
                try putMultipart(key, bytes)
                return
            }
            let r = try send("PUT", key: key.path, headers: [("If-None-Match", "*")] + lockHeaders(key, body: bytes), body: bytes,
                             payloadHash: Self.payloadHash(for: key, body: bytes), contentType: "application/octet-stream")
            switch r.response.status {
            case 200:
                return
            case 412:
                // A retried PUT may find the object its own lost first attempt stored:
                // names are content hashes, so same name and size means same object.
                if r.attempts > 1, try statUnscrubbed(key) == bytes.count { return }
                throw existsError(key)
            default:
                throw failure(r.response, "store", key: key, attempts: r.attempts, seconds: r.seconds)
            }
        }
    }

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        try scrubbing {
            let r = try send("GET", key: key.path)
            if r.response.status == 404, let hidden = try hiddenVersion(key) { return try getVersion(key, hidden.versionID) }
            guard r.response.status == 200 else { throw failure(r.response, "read", key: key, attempts: r.attempts, seconds: r.seconds) }
            return r.response.body
        }
    }

    public func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] {
        try scrubbing {
            guard offset >= 0, length >= 0 else {
                throw LifeboatError(.internalError, "bad range \(offset)+\(length) for object \(key.path)")
            }
            if length == 0 {
                guard try statUnscrubbed(key) != nil else { throw missingError(key) }
                return []
            }
            var r = try send("GET", key: key.path, headers: [("Range", "bytes=\(offset)-\(offset + length - 1)")], expected: length)
            if r.response.status == 404, let hidden = try hiddenVersion(key) {
                r = try send("GET", key: key.path, query: [("versionId", hidden.versionID)],
                             headers: [("Range", "bytes=\(offset)-\(offset + length - 1)")], expected: length)
                if r.response.status == 206 || r.response.status == 200 { lockState.noteHiddenRead(key) }
            }
            var body: [UInt8]
            switch r.response.status {
            case 206:
                body = r.response.body
            case 200:  // a server that ignores Range sends everything
                body = Array(r.response.body.dropFirst(offset).prefix(length))
            case 416:
                throw truncatedError(key)
            default:
                throw failure(r.response, "read", key: key, attempts: r.attempts, seconds: r.seconds)
            }
            guard body.count == length else { throw truncatedError(key) }
            return body
        }
    }

    public func stat(_ key: ObjectKey) throws -> Int? {
        try scrubbing {
            if let size = try statUnscrubbed(key) { return size }
            return try hiddenVersion(key)?.size
        }
    }

    public func list(_ kind: ObjectKind) throws -> [ObjectInfo] {
        try scrubbing {
            if kind == .config {
                return try stat(.config).map { [ObjectInfo(key: .config, size: $0)] } ?? []
            }
            if try readsVersions(kind) { return try listVersioned(kind) }
            let prefix = s3.keyPrefix(kind.rawValue + "/")
            var out: [ObjectInfo] = []
            var token: String?
            repeat {
                var query = [("list-type", "2"), ("prefix", prefix)]
                if let token { query.append(("continuation-token", token)) }
                let r = try send("GET", key: nil, query: query)
                guard r.response.status == 200 else { throw failure(r.response, "list \(prefix) in", key: nil, attempts: r.attempts, seconds: r.seconds) }
                let xml = String(decoding: r.response.body, as: UTF8.self)[...]
                for entry in S3XML.blocks("Contents", in: xml) {
                    guard let name = S3XML.value("Key", in: entry), let size = S3XML.value("Size", in: entry).flatMap({ Int($0) }),
                          let relative = s3.relativeKey(name), let key = S3Backend.key(fromPath: relative), key.kind == kind
                    else { continue }  // foreign files in the bucket are not ours to report
                    out.append(ObjectInfo(key: key, size: size))
                }
                let truncated = S3XML.value("IsTruncated", in: xml) == "true"
                token = truncated ? S3XML.value("NextContinuationToken", in: xml) : nil
                if truncated && token == nil {
                    throw LifeboatError(.network, "\(s3.authority) sent a truncated listing without a continuation token; the server is not S3-compatible enough")
                }
            } while token != nil
            return out
        }
    }

    public func delete(_ key: ObjectKey) throws {
        try scrubbing {
            if try readsVersions(key.kind) { return try deleteVersions(key) }
            // S3 answers 204 for missing keys too; the contract wants .notFound.
            guard try statUnscrubbed(key) != nil else { throw missingError(key) }
            let r = try send("DELETE", key: key.path)
            guard r.response.status == 204 || r.response.status == 200 else {
                throw failure(r.response, "delete", key: key, attempts: r.attempts, seconds: r.seconds)
            }
        }
    }

    // MARK: Multipart

    private func putMultipart(_ key: ObjectKey, _ bytes: [UInt8]) throws {
        let started = try send("POST", key: key.path, query: [("uploads", "")], headers: lockHeaders(key, body: nil), body: [],
                               contentType: "application/octet-stream")
        guard started.response.status == 200,
              let uploadID = S3XML.value("UploadId", in: String(decoding: started.response.body, as: UTF8.self)), !uploadID.isEmpty
        else { throw failure(started.response, "start multipart upload of", key: key, attempts: started.attempts, seconds: started.seconds) }
        do {
            var etags: [String] = []
            var offset = 0
            var number = 1
            while offset < bytes.count {
                let end = min(offset + options.partSize, bytes.count)
                let part = Array(bytes[offset..<end])
                let r = try send("PUT", key: key.path, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                 headers: lockState.runtime.policy == nil ? [] : [("Content-MD5", MD5.base64(part))], body: part)
                guard r.response.status == 200, let etag = r.response.headers["etag"] else {
                    throw failure(r.response, "upload part \(number) of", key: key, attempts: r.attempts, seconds: r.seconds)
                }
                etags.append(etag)
                offset = end
                number += 1
            }
            var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            for (i, etag) in etags.enumerated() {
                xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let done = try send("POST", key: key.path, query: [("uploadId", uploadID)], headers: [("If-None-Match", "*")],
                                body: Array(xml.utf8), contentType: "application/xml", errorMayHide200: true)
            switch done.response.status {
            case 200:
                return
            case 412:
                if done.attempts > 1, try statUnscrubbed(key) == bytes.count { return }
                throw existsError(key)
            default:
                throw failure(done.response, "complete multipart upload of", key: key, attempts: done.attempts, seconds: done.seconds)
            }
        } catch {
            // Best effort: parts of an abandoned upload cost storage until aborted (or until
            // a bucket lifecycle rule AbortIncompleteMultipartUpload removes them).
            _ = try? send("DELETE", key: key.path, query: [("uploadId", uploadID)], retry: .once)
            throw error
        }
    }

    // MARK: Requests

    package func statUnscrubbed(_ key: ObjectKey) throws -> Int? {
        let r = try send("HEAD", key: key.path)
        switch r.response.status {
        case 200:
            guard let length = r.response.headers["content-length"].flatMap({ Int($0) }) else {
                throw LifeboatError(.network, "\(s3.authority) answered HEAD \(key.path) without a Content-Length; the server is not S3-compatible enough")
            }
            return length
        case 404:
            return nil
        default:
            // HEAD answers carry no error body; a one-byte GET tells why it was refused.
            var response = r.response
            if response.body.isEmpty, (400..<500).contains(response.status),
               let probe = try? send("GET", key: key.path, headers: [("Range", "bytes=0-0")], retry: .once),
               probe.response.status == response.status {
                response = probe.response
            }
            throw failure(response, "look up", key: key, attempts: r.attempts, seconds: r.seconds)
        }
    }

    /// Sends one S3 request, retrying transient failures until the retry budget is spent (see
    /// RetryPolicy and RetryBudget). Returns the final response whatever its status (callers
    /// decide what is success), how many attempts it took and the seconds they took.
    package func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                      body: [UInt8]? = nil, payloadHash: String? = nil, contentType: String? = nil, expected: Int = 0,
                      errorMayHide200: Bool = false, retry: RetryPolicy? = nil) throws -> (response: HTTPResponse, attempts: Int, seconds: Double) {
        let policy = retry ?? options.retry
        var request = HTTPRequest(method: method, url: s3.url(key: key, query: query))
        request.body = body
        request.expectedResponseSize = expected
        request.headers = headers
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        // The payload hash is part of the signature: S3 recomputes it and refuses a body
        // damaged on the way, where UNSIGNED-PAYLOAD would store it.
        request.headers.append(("x-amz-content-sha256", payloadHash ?? body.map { SHA256.hex($0) } ?? S3Backend.emptySHA256))
        if let token = credentials.sessionToken { request.headers.append(("x-amz-security-token", token)) }

        let start = Date()
        var attempt = 0
        while true {
            let admission = budget.admission()
            if case .refused(let error) = admission { throw error }
            attempt += 1
            let attemptStart = Date()
            let failed: TransientFailure
            do {
                let response = try pool.perform(request, settings: transport, signing: signing)
                guard isTransient(response, errorMayHide200: errorMayHide200) else {
                    return (response, attempt, Date().timeIntervalSince(start))
                }
                failed = .answered(response)
            } catch let error as LifeboatError where error.kind == .network {
                failed = .broke(error)
            }
            let elapsed = Date().timeIntervalSince(start)
            // Another request may have given up meanwhile: then this one stops too.
            if case .retries = admission, case .retries = budget.admission(),
               let delay = policy.nextDelay(afterAttempt: attempt, elapsed: elapsed) {
                Thread.sleep(forTimeInterval: delay)
                continue
            }
            // A request that had the budget and spent it stops the others (a `.once` request
            // had none to spend); a single attempt after a give-up that timed out makes the
            // endpoint silent.
            var hadBudget = false
            if case .retries = admission { hadBudget = policy.maxAttempts > 1 }
            switch failed {
            case .answered(var final):
                if hadBudget { budget.gaveUp(window: policy.maxTotal, silence: nil) }
                if final.status == 200 { final.status = 500 }  // an error hidden in a 200
                return (final, attempt, elapsed)
            case .broke(let error):
                let spent = String(format: "%.1f", elapsed)
                let budgetNote = policy.maxAttempts == 1 ? "" : " of LIFEBOAT_S3_RETRY_SECONDS=\(Self.seconds(policy.maxTotal))"
                let final = LifeboatError(.network, "\(error.message) (\(location): gave up after \(attempt) attempt\(attempt == 1 ? "" : "s") in \(spent) s\(budgetNote))")
                // Only an endpoint that let the last attempt run into its timeout is silent: one
                // that refused or broke off fails fast, so a single attempt costs nothing.
                let timedOut = Date().timeIntervalSince(attemptStart) >= 0.9 * min(transport.connectTimeout, Double(transport.stallTimeout))
                if case .single = admission, timedOut {
                    budget.gaveUp(window: policy.maxTotal, silence: final)
                } else if hadBudget {
                    budget.gaveUp(window: policy.maxTotal, silence: timedOut ? final : nil)
                }
                throw final
            }
        }
    }

    /// How an attempt failed in a way worth retrying: an error answer (5xx, SlowDown), or no
    /// usable answer at all (timeout, refused, broken off, malformed).
    private enum TransientFailure {
        case answered(HTTPResponse)
        case broke(LifeboatError)
    }

    private static func seconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(format: "%.1f", s)
    }

    private func isTransient(_ r: HTTPResponse, errorMayHide200: Bool) -> Bool {
        switch r.status {
        case 500, 502, 503, 504, 429:
            return true
        case 400:
            return errorCode(r) == "RequestTimeout"
        case 409:
            return errorCode(r) == "ConditionalRequestConflict" || errorCode(r) == "OperationAborted"
        case 200:
            // CompleteMultipartUpload may fail after sending 200 (the error is in the body).
            return errorMayHide200 && String(decoding: r.body.prefix(512), as: UTF8.self).contains("<Error>")
        default:
            return false
        }
    }

    // MARK: Errors

    package func errorCode(_ r: HTTPResponse) -> String? {
        guard !r.body.isEmpty else { return nil }
        return S3XML.value("Code", in: String(decoding: r.body.prefix(4096), as: UTF8.self))
    }

    /// "Code: Message" from an S3 error body, bounded in length; never the signature details
    /// (StringToSign, CanonicalRequest) some servers echo.
    private func errorSummary(_ r: HTTPResponse) -> String {
        let xml = String(decoding: r.body.prefix(4096), as: UTF8.self)
        let code = S3XML.value("Code", in: xml)
        let message = S3XML.value("Message", in: xml).map { String($0.prefix(200)) }
        switch (code, message) {
        case let (c?, m?): return "\(c): \(m)"
        case let (c?, nil): return c
        default: return "HTTP \(r.status)"
        }
    }

    package func failure(_ r: HTTPResponse, _ what: String, key: ObjectKey?, attempts: Int, seconds: Double? = nil) -> LifeboatError {
        let summary = errorSummary(r)
        let code = errorCode(r)
        let object = key.map { "object \($0.path) in \(location)" } ?? location
        let xml = String(decoding: r.body.prefix(4096), as: UTF8.self)
        if let region = S3XML.value("Region", in: xml), region != s3.region,
           [301, 307, 400].contains(r.status) {
            return LifeboatError(.usage, "bucket \(s3.bucket) is in region \(region), not \(s3.region); set AWS_REGION=\(region)")
        }
        // Credential problems come as 403, or as 400 for bad or expired session tokens.
        let credentialCodes: Set<String> = ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                                            "ExpiredToken", "TokenRefreshRequired", "InvalidSecurity", "AllAccessDisabled"]
        switch r.status {
        case 403 where code == "RequestTimeTooSkewed":
            return LifeboatError(.auth, "\(s3.authority) refused the request because this machine's clock is off (\(summary)); fix the time (NTP) and run again")
        case 401, 403,
             400 where code.map(credentialCodes.contains) ?? false:
            return LifeboatError(.auth, "credentials refused by \(s3.authority) trying to \(what) \(object) (\(summary)); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (using \(credentials.source)) and the bucket policy")
        case 400 where code == "InvalidRequest" && summary.contains("ObjectLockConfiguration"):
            return LifeboatError(.usage, "bucket \(s3.bucket) at \(s3.authority) has no Object Lock, so \(object) cannot be stored locked; use a bucket created with 'lifeboat init --object-lock' (see docs/s3.md)")
        case 404 where code == "NoSuchBucket" || key == nil:
            return LifeboatError(.notFound, "bucket \(s3.bucket) does not exist at \(s3.authority); create it (lifeboat init) or check the repository location")
        case 404:
            return missingError(key ?? .config)
        case 412:
            return existsError(key ?? .config)
        case 500...599, 429:
            return LifeboatError(.network, "\(s3.authority) kept failing to \(what) \(object) (\(summary)) after \(attempts) attempt\(attempts == 1 ? "" : "s")\(seconds.map { String(format: " in %.1f s", $0) } ?? ""); try again later")
        default:
            return LifeboatError(.internalError, "unexpected answer from \(s3.authority) trying to \(what) \(object) (\(summary)); check that the endpoint is S3-compatible")
        }
    }

    private func existsError(_ key: ObjectKey) -> LifeboatError {
        LifeboatError(.exists, "object \(key.path) already exists in \(location); refusing to overwrite")
    }

    package func missingError(_ key: ObjectKey) -> LifeboatError {
        LifeboatError(.notFound, "object \(key.path) is missing from \(location)")
    }

    private func truncatedError(_ key: ObjectKey) -> LifeboatError {
        LifeboatError(.corrupt, "object \(key.path) in \(location) is shorter than its index says (truncated?); run 'lifeboat check'")
    }

    /// Last line of defence: no secret leaves the backend inside an error message, whatever
    /// a server or libcurl put in it.
    package func scrubbing<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LifeboatError {
            var message = credentials.redacting(error.message)
            if let range = message.range(of: "Signature=") {
                message = String(message[..<range.upperBound]) + "<redacted>"
            }
            throw LifeboatError(error.kind, message)
        }
    }
}
