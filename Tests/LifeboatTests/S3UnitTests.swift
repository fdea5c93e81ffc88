import Foundation
import XCTest

import CCurl
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Pure parts of the S3 backend: locations, URL encoding, credentials, XML, retry delays.
final class S3LocationTests: XCTestCase {
    private func parse(_ s: String, env: [String: String] = [:], region: String = "us-east-1", insecure: Bool = false) throws -> S3Location {
        try S3Location.parse(s, region: region, environment: env, allowInsecureHTTP: insecure)
    }

    func testPathStyle() throws {
        let l = try parse("s3:https://minio.example.com:9000/backups/db/main/")
        XCTAssertEqual(l.host, "minio.example.com")
        XCTAssertEqual(l.port, 9000)
        XCTAssertEqual(l.bucket, "backups")
        XCTAssertEqual(l.prefix, "db/main")
        XCTAssertFalse(l.virtualHosted)
        XCTAssertEqual(l.description, "s3:https://minio.example.com:9000/backups/db/main")
        XCTAssertEqual(l.url(key: "data/ab/abcd"), "https://minio.example.com:9000/backups/db/main/data/ab/abcd")
        XCTAssertEqual(l.url(key: nil, query: [("prefix", "db/main/data/"), ("list-type", "2")]),
                       "https://minio.example.com:9000/backups?list-type=2&prefix=db%2Fmain%2Fdata%2F")
        XCTAssertEqual(l.url(key: "x", query: [("uploads", "")]), "https://minio.example.com:9000/backups/db/main/x?uploads=")
        XCTAssertEqual(try parse("s3:https://[::1]:9000/bucket").host, "[::1]")
        XCTAssertEqual(try parse("s3:https://h/bkt").prefix, "")
    }

    func testAWSVirtualHostedAndEndpointOverride() throws {
        let aws = try parse("s3://my-bucket/host1/app", region: "eu-west-3")
        XCTAssertTrue(aws.virtualHosted)
        XCTAssertEqual(aws.url(key: "config"), "https://my-bucket.s3.eu-west-3.amazonaws.com/host1/app/config")
        XCTAssertEqual(aws.url(key: nil, query: [("list-type", "2")]), "https://my-bucket.s3.eu-west-3.amazonaws.com/?list-type=2")
        XCTAssertEqual(aws.description, "s3://my-bucket/host1/app")
        // Dotted names do not match the wildcard certificate: path-style on the regional host.
        let dotted = try parse("s3://my.bucket/p", region: "us-west-2")
        XCTAssertFalse(dotted.virtualHosted)
        XCTAssertEqual(dotted.url(key: "config"), "https://s3.us-west-2.amazonaws.com/my.bucket/p/config")
        let minio = try parse("s3://bucket/p", env: ["AWS_ENDPOINT_URL": "https://minio.lan:9000"])
        XCTAssertEqual(minio.url(key: "config"), "https://minio.lan:9000/bucket/p/config")
        let specific = try parse("s3://bucket/p", env: ["AWS_ENDPOINT_URL": "https://a", "AWS_ENDPOINT_URL_S3": "https://b"])
        XCTAssertEqual(specific.host, "b")
    }

    func testRefusals() {
        for bad in ["s3:ftp://h/bucket", "s3:https://h", "s3:https://h/", "s3:https://h/Bad_Bucket", "s3:https://h/ab",
                    "s3:https://user:pw@h/bucket", "s3:https://h:99999/bucket", "s3:https://h/bucket?x=1", "s3:https://h/bucket/../x",
                    "s3:http://h/bucket", "s3://", "s3:nothing"] {
            XCTAssertThrowsError(try parse(bad, insecure: false), bad) { XCTAssertEqual(($0 as? LifeboatError)?.kind, .usage, bad) }
        }
        XCTAssertThrowsError(try parse("s3:http://192.168.0.5/bucket", insecure: true))
        XCTAssertNoThrow(try parse("s3:http://127.0.0.1:9000/bucket", insecure: true))
    }

    func testLoopback() {
        for h in ["127.0.0.1", "127.255.0.9", "localhost", "LOCALHOST", "::1", "[::1]"] { XCTAssertTrue(S3Location.isLoopback(h), h) }
        for h in ["128.0.0.1", "10.0.0.1", "127.0.0", "127.0.0.1.evil.com", "localhost.evil.com", "::2", "1127.0.0.1", "127.0.0.256"] {
            XCTAssertFalse(S3Location.isLoopback(h), h)
        }
    }

    func testEncoding() {
        XCTAssertEqual(S3Location.encode("a b/c~d_e-f.g+h=i&j%", keepSlash: true), "a%20b/c~d_e-f.g%2Bh%3Di%26j%25")
        XCTAssertEqual(S3Location.encode("a/b", keepSlash: false), "a%2Fb")
        XCTAssertEqual(S3Location.encode("é", keepSlash: false), "%C3%A9")
    }
}

final class S3CredentialsTests: XCTestCase {
    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "lifeboat-creds-" + UUID().uuidString
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { unlink(path) }
        return path
    }

    func testEnvironmentFirst() throws {
        let c = try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
                                                         "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"])
        XCTAssertEqual(c.accessKeyID, "AKID")
        XCTAssertEqual(c.secretAccessKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "s3cr3t")
        XCTAssertEqual(c.sessionToken, "tok")
        XCTAssertFalse("\(c)".contains("s3cr3t"))
        // What libcurl is handed, and what leaves the backend in a message.
        XCTAssertEqual(c.secretAccessKey.withUnsafeCString { String(cString: $0) }, "s3cr3t")
        XCTAssertEqual(c.redacting("refused s3cr3t with tok"), "refused <redacted> with <redacted>")
        XCTAssertThrowsError(try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "AKID", "HOME": "/nonexistent"]))
    }

    func testSharedFileAndProfile() throws {
        let file = try write("""
        # comment
        [default]
        aws_access_key_id = DEFAULTID
        aws_secret_access_key = defaultsecret

        [backup]
        aws_access_key_id=BACKUPID
        aws_secret_access_key=backup/secret+with=equals
        aws_session_token = backuptoken
        """)
        let d = try S3Credentials.resolve(environment: ["AWS_SHARED_CREDENTIALS_FILE": file])
        XCTAssertEqual(d.accessKeyID, "DEFAULTID")
        XCTAssertNil(d.sessionToken)
        let b = try S3Credentials.resolve(environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "backup"])
        XCTAssertEqual(b.secretAccessKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "backup/secret+with=equals")
        XCTAssertEqual(b.sessionToken, "backuptoken")
        XCTAssertTrue(b.source.contains("profile backup"))
        XCTAssertThrowsError(try S3Credentials.resolve(environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "nope"])) {
            XCTAssertEqual(($0 as? LifeboatError)?.kind, .usage)
        }
        XCTAssertThrowsError(try S3Credentials.resolve(environment: ["HOME": "/nonexistent"])) {
            XCTAssertTrue(($0 as? LifeboatError)?.message.contains("AWS_ACCESS_KEY_ID") ?? false)
        }
    }

    func testRegion() throws {
        XCTAssertEqual(S3Credentials.region(environment: ["AWS_REGION": "eu-north-1", "AWS_DEFAULT_REGION": "x"]), "eu-north-1")
        XCTAssertEqual(S3Credentials.region(environment: ["AWS_DEFAULT_REGION": "ap-south-1"]), "ap-south-1")
        XCTAssertEqual(S3Credentials.region(environment: ["HOME": "/nonexistent"]), "us-east-1")
        let config = try write("[default]\nregion = eu-west-1\n[profile backup]\nregion = ca-central-1\n")
        XCTAssertEqual(S3Credentials.region(environment: ["AWS_CONFIG_FILE": config]), "eu-west-1")
        XCTAssertEqual(S3Credentials.region(environment: ["AWS_CONFIG_FILE": config, "AWS_PROFILE": "backup"]), "ca-central-1")
    }
}

final class S3XMLTests: XCTestCase {
    func testListingAndEntities() {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
        <IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
        <Contents><Key>p/a&amp;b</Key><Size>12</Size></Contents><Contents><Key>p/&#x41;&#66;</Key><Size>0</Size></Contents>
        <ContentsExtra>no</ContentsExtra><Empty/></ListBucketResult>
        """[...]
        let entries = S3XML.blocks("Contents", in: xml)
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries.compactMap { S3XML.value("Key", in: $0) }, ["p/a&b", "p/AB"])
        XCTAssertEqual(S3XML.value("NextContinuationToken", in: xml), "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        XCTAssertEqual(S3XML.value("IsTruncated", in: xml), "true")
        XCTAssertEqual(S3XML.value("Empty", in: xml), "")
        XCTAssertNil(S3XML.value("Missing", in: xml))
        XCTAssertEqual(S3XML.escape("<a&\"b'>"), "&lt;a&amp;&quot;b&#39;&gt;")
    }
}

final class RetryPolicyTests: XCTestCase {
    func testDelaysGrowAndStayBounded() {
        let p = RetryPolicy(maxAttempts: 10, baseDelay: 0.1, maxDelay: 1, maxTotal: 30)
        for _ in 0..<100 {
            XCTAssertTrue((0.05...0.1).contains(p.delay(afterAttempt: 1)))
            XCTAssertTrue((0.2...0.4).contains(p.delay(afterAttempt: 3)))
            XCTAssertTrue((0.5...1).contains(p.delay(afterAttempt: 40)))
        }
        XCTAssertNotNil(p.nextDelay(afterAttempt: 9, elapsed: 0))
        XCTAssertNil(p.nextDelay(afterAttempt: 10, elapsed: 0))
        XCTAssertNil(RetryPolicy.once.nextDelay(afterAttempt: 1, elapsed: 0))
        // The last pause is cut to the deadline, so the budget is used to its end; past it, none.
        XCTAssertEqual(p.nextDelay(afterAttempt: 2, elapsed: 29.9) ?? 0, 0.1, accuracy: 1e-9)
        XCTAssertNil(p.nextDelay(afterAttempt: 2, elapsed: 30))
    }

    /// No attempt cap below the deadline by default: LIFEBOAT_S3_RETRY_SECONDS decides.
    func testDefaultRetriesUntilTheDeadline() {
        let p = RetryPolicy(maxTotal: 150)
        XCTAssertNotNil(p.nextDelay(afterAttempt: 1000, elapsed: 149))
        XCTAssertNil(p.nextDelay(afterAttempt: 1000, elapsed: 150))
    }

    /// Once a request gave up, the others stop retrying for one budget: at once when the
    /// endpoint was silent, after one attempt when it answered with errors.
    func testBudgetSpentByOneRequestStopsTheOthers() {
        let t0 = Date()
        let budget = RetryBudget()
        guard case .retries = budget.admission(now: t0) else { return XCTFail("fresh budget") }
        budget.gaveUp(window: 10, silence: nil, now: t0)
        guard case .single = budget.admission(now: t0.addingTimeInterval(9)) else { return XCTFail("after 5xx give-up") }
        let silent = LifeboatError(.network, "timed out talking to 127.0.0.1:1")
        budget.gaveUp(window: 10, silence: silent, now: t0.addingTimeInterval(1))
        guard case .refused(let e) = budget.admission(now: t0.addingTimeInterval(10)) else { return XCTFail("after silence") }
        XCTAssertEqual(e, silent)
        // A later 5xx give-up does not lift the refusal of a silent endpoint.
        budget.gaveUp(window: 10, silence: nil, now: t0.addingTimeInterval(2))
        guard case .refused = budget.admission(now: t0.addingTimeInterval(3)) else { return XCTFail("still silent") }
        guard case .retries = budget.admission(now: t0.addingTimeInterval(12.5)) else { return XCTFail("window over") }
    }
}

final class S3PayloadHashTests: XCTestCase {
    /// A content-addressed object's name is its payload hash; anything else is hashed.
    func testNamesAreThePayloadHashOnlyForContentAddressedObjects() {
        let body = Array("sealed pack bytes".utf8)
        let hash = SHA256.hex(body)
        for kind in [ObjectKind.data, .index, .snapshots] {
            XCTAssertEqual(S3Backend.payloadHash(for: ObjectKey(kind, hash), body: body), hash)
        }
        // Other kinds, and names that are not a SHA-256 in hex, are hashed from the body (here
        // bytes the name is not the hash of, so a name taken as the hash would show).
        let other = Array("other bytes".utf8)
        for key in [ObjectKey(.locks, hash), ObjectKey(.keys, hash), .config, ObjectKey(.audit, hash), ObjectKey(.sourceKeys, hash),
                    ObjectKey(.data, "pack-1"), ObjectKey(.data, hash.uppercased()), ObjectKey(.data, String(hash.dropLast()))] {
            XCTAssertEqual(S3Backend.payloadHash(for: key, body: other), SHA256.hex(other), "\(key.path)")
        }
    }
}

final class CurlErrorMappingTests: XCTestCase {
    func testKinds() {
        XCTAssertEqual(CurlHandle.error(code: CURLE_COULDNT_CONNECT, detail: "Connection refused", host: "h:1").kind, .network)
        XCTAssertEqual(CurlHandle.error(code: CURLE_OPERATION_TIMEDOUT, detail: "timed out", host: "h:1").kind, .network)
        XCTAssertEqual(CurlHandle.error(code: CURLE_RECV_ERROR, detail: "Connection reset by peer", host: "h:1").kind, .network)
        let untrusted = CurlHandle.error(code: CURLE_PEER_FAILED_VERIFICATION, detail: "SSL certificate problem: unable to get local issuer certificate", host: "h:1")
        XCTAssertEqual(untrusted.kind, .tls)
        XCTAssertTrue(untrusted.message.hasPrefix("TLS certificate of h:1 not trusted"))
        XCTAssertTrue(untrusted.message.contains("--cacert / LIFEBOAT_CACERT"))
        XCTAssertEqual(CurlHandle.error(code: CURLE_SSL_CONNECT_ERROR, detail: "OpenSSL SSL_connect: Connection reset by peer in connection to h:1", host: "h:1").kind, .network)
        XCTAssertEqual(CurlHandle.error(code: CURLE_SSL_CONNECT_ERROR, detail: "error:0A00042E:SSL routines::tlsv1 alert protocol version", host: "h:1").kind, .tls)
        XCTAssertEqual(CurlHandle.error(code: CURLE_SSL_CACERT_BADFILE, detail: "error setting certificate file", host: "h:1").kind, .tls)
    }
}

final class S3ConnectionsTests: XCTestCase {
    /// LIFEBOAT_S3_CONNECTIONS sets how many requests callers keep in flight; a value out of
    /// range is a usage error that names the variable.
    func testConnectionsComeFromTheEnvironment() throws {
        var env = ["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "lifeboat-test-secret-DO-NOT-PRINT", "AWS_REGION": "us-east-1"]
        let location = "s3:https://127.0.0.1:9/bucket"
        XCTAssertEqual(try openBackend(location: location, options: BackendOptions(environment: env)).preferredConcurrency, 4)
        env["LIFEBOAT_S3_CONNECTIONS"] = "12"
        XCTAssertEqual(try openBackend(location: location, options: BackendOptions(environment: env)).preferredConcurrency, 12)
        for bad in ["0", "65", "many"] {
            env["LIFEBOAT_S3_CONNECTIONS"] = bad
            XCTAssertThrowsError(try openBackend(location: location, options: BackendOptions(environment: env))) { e in
                XCTAssertEqual((e as? LifeboatError)?.kind, .usage)
                XCTAssertTrue((e as? LifeboatError)?.message.contains("LIFEBOAT_S3_CONNECTIONS") ?? false)
            }
        }
    }
}
