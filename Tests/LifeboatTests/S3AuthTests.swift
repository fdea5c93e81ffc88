import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill


/// Against a moto server that checks SigV4 signatures (Scripts/s3-server … auth): libcurl's
/// signatures are accepted for every request shape the backend sends, wrong credentials are
/// refused with one clear `.auth` error and no retry, and no secret leaks into any message.
final class S3AuthTests: XCTestCase {
    private var server: S3TestServer.Info?

    override func setUpWithError() throws {
        server = try S3TestServer.start("auth", port: S3TestServer.basePort + 1, auth: true)
    }

    private func profileEnvironment() throws -> [String: String] {
        let server = try XCTUnwrap(server)
        return ["AWS_SHARED_CREDENTIALS_FILE": try XCTUnwrap(server.credentialsFile),
                "AWS_PROFILE": try XCTUnwrap(server.profile), "HOME": "/nonexistent"]
    }

    private func realKeyID() throws -> String {
        let file = try XCTUnwrap(server?.credentialsFile)
        return try XCTUnwrap(S3Credentials.parseINI(file)["lifeboat"]?["aws_access_key_id"])
    }

    /// Signed requests of every kind the backend makes (HEAD, PUT with If-None-Match, GET with
    /// Range, multipart POST/PUT/POST, DELETE) pass moto's signature check.
    /// Not LIST: moto checks the signature of a query against its *decoded* form (prefix=a/),
    /// while AWS, boto and this backend sign the encoded one (prefix=a%2F).
    func testSignaturesAcceptedWithCredentialsFromProfile() throws {
        let server = try XCTUnwrap(server)
        let options = S3Options(multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024)
        let backend = try S3TestServer.backend(server, bucket: "signed", s3: options, environment: try profileEnvironment())
        let small = BackendContract.bytes(50_000, seed: 7)
        let large = BackendContract.bytes(11 * 1024 * 1024, seed: 8)
        for data in [small, large] {
            let key = BackendContract.dataKey(data)
            try backend.put(key, data)
            XCTAssertEqual(try backend.get(key), data)
            XCTAssertEqual(try backend.getRange(key, offset: 10, length: 100), Array(data[10..<110]))
            XCTAssertEqual(try backend.stat(key), data.count)
            BackendContract.expectError(.exists, "overwrite") { try backend.put(key, data) }
        }
        // Without the HEAD, the server's If-None-Match refusal is what stops the overwrite.
        let noHead = try S3TestServer.backend(server, bucket: "signed", prefix: backend.location.split(separator: "/").last.map(String.init) ?? "",
                                              s3: S3Options(headBeforePut: false), environment: try profileEnvironment())
        BackendContract.expectError(.exists, "overwrite refused by If-None-Match") { try noHead.put(BackendContract.dataKey(small), small) }
        try backend.delete(BackendContract.dataKey(small))
        XCTAssertNil(try backend.stat(BackendContract.dataKey(small)))
    }

    func testWrongSecretRefusedOnceWithClearMessage() throws {
        let server = try XCTUnwrap(server)
        let secret = "wrong-Secret/With+Chars-\(UUID().uuidString)"
        let token = "session-token-\(UUID().uuidString)"
        let env = ["AWS_ACCESS_KEY_ID": try realKeyID(), "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token, "HOME": "/nonexistent"]
        let prefix = "wrong-\(UUID().uuidString.lowercased())"
        let backend = try openBackend(location: "s3:\(server.endpoint)/signed/\(prefix)",
                                      options: BackendOptions(caCertPath: server.caCert, environment: env))
        let started = Date()
        var messages: [String] = []
        for attempt in [
            { try backend.put(ObjectKey(.index, "x"), [1]) },
            { _ = try backend.get(ObjectKey(.index, "x")) },
            { _ = try backend.stat(ObjectKey(.index, "x")) },
            { _ = try backend.list(.index) },
        ] as [() throws -> Void] {
            do {
                try attempt()
                XCTFail("wrong credentials were accepted")
            } catch let e as LifeboatError {
                XCTAssertEqual(e.kind, .auth, e.message)
                messages.append(e.message)
            }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "403 must not be retried")
        for m in messages {
            XCTAssertTrue(m.contains("credentials refused by 127.0.0.1:\(server.port)"), m)
            XCTAssertTrue(m.contains("AWS_SECRET_ACCESS_KEY"), m)
            XCTAssertFalse(m.contains(secret), "secret leaked: \(m)")
            XCTAssertFalse(m.contains(token), "token leaked: \(m)")
            XCTAssertFalse(m.contains("Signature="), m)
        }
        // No retry loop: one request per operation (two for the HEAD of stat and put,
        // whose refusal is explained by a one-byte GET).
        let logged = try S3TestServer.requests(server, containing: prefix)
        XCTAssertEqual(logged.count, 6, "\(logged)")
        XCTAssertTrue(logged.allSatisfy { $0.status == 400 || $0.status == 403 }, "\(logged)")
    }

    func testWrongSecretWithoutTokenRefused() throws {
        let server = try XCTUnwrap(server)
        let env = ["AWS_ACCESS_KEY_ID": try realKeyID(), "AWS_SECRET_ACCESS_KEY": "not-the-secret", "HOME": "/nonexistent"]
        let backend = try openBackend(location: "s3:\(server.endpoint)/signed/x", options: BackendOptions(caCertPath: server.caCert, environment: env))
        do {
            _ = try backend.get(ObjectKey(.index, "x"))
            XCTFail("wrong secret accepted")
        } catch let e as LifeboatError {
            XCTAssertEqual(e.kind, .auth, e.message)
            XCTAssertTrue(e.message.contains("SignatureDoesNotMatch"), e.message)
        }
    }

    func testUnknownAccessKeyRefused() throws {
        let server = try XCTUnwrap(server)
        let env = ["AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000", "AWS_SECRET_ACCESS_KEY": "nope", "HOME": "/nonexistent"]
        let backend = try openBackend(location: "s3:\(server.endpoint)/signed/x", options: BackendOptions(caCertPath: server.caCert, environment: env))
        BackendContract.expectError(.auth, "unknown key") { _ = try backend.get(ObjectKey(.index, "x")) }
    }
}

/// No secret (secret key, session token, signature) in any description or error message,
/// whichever way a request fails.
final class S3SecretLeakTests: XCTestCase {
    func testSecretsNeverInMessages() throws {
        let secret = "TOPSECRET-\(UUID().uuidString)"
        let token = "TOKEN-\(UUID().uuidString)"
        let env = ["AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token, "HOME": "/nonexistent"]
        var texts: [String] = []
        func collect(_ body: () throws -> Void) {
            do { try body() } catch { texts.append("\(error)"); texts.append(String(describing: error)); texts.append(String(reflecting: error)) }
        }
        let credentials = try S3Credentials.resolve(environment: env)
        texts += ["\(credentials)", String(reflecting: credentials), credentials.description]

        let contract = try S3TestServer.start("contract", port: S3TestServer.basePort)
        let auth = try S3TestServer.start("auth", port: S3TestServer.basePort + 1, auth: true)
        let cases: [(String, String?, Bool)] = [
            ("s3:\(auth.endpoint)/signed/leak", auth.caCert, false),               // 403
            ("s3:\(contract.endpoint)/lifeboat-tests/leak", S3TestServer.pkiDir + "/other-ca.pem", false),  // TLS
            ("s3:https://127.0.0.1:\(S3TestServer.basePort + 9)/bucket/leak", nil, false),  // network
            ("s3:\(contract.endpoint)/no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())/leak", contract.caCert, false),  // 404 bucket
        ]
        for (location, ca, insecure) in cases {
            let options = BackendOptions(caCertPath: ca, allowInsecureHTTP: insecure, s3: S3Options(retry: .once), environment: env)
            let backend = try openBackend(location: location, options: options)
            texts.append(backend.location)
            texts.append("\(backend)")
            collect { try backend.put(ObjectKey(.index, "a"), [1]) }
            collect { _ = try backend.get(ObjectKey(.index, "a")) }
            collect { _ = try backend.list(.data) }
        }
        // Credentials pasted into the URL are refused without being echoed.
        collect { _ = try openBackend(location: "s3:https://AKIAEXAMPLE:\(secret)@127.0.0.1/bucket", options: BackendOptions(environment: env)) }
        XCTAssertGreaterThan(texts.count, 20)
        for text in texts {
            XCTAssertFalse(text.contains(secret), "secret leaked: \(text)")
            XCTAssertFalse(text.contains(token), "token leaked: \(text)")
            XCTAssertFalse(text.contains("Signature="), "signature leaked: \(text)")
        }
    }
}
