import Foundation
import LifeboatCore

/// What the S3 features built on the backend (Object Lock and versioned reads,
/// S3ObjectLock.swift) may use of it: signed requests, the mapping of answers to errors, and
/// the state it keeps for them. They are written against this and never name `S3Backend`, so
/// the dependency points one way: S3Backend → S3ObjectLock → S3Requests.
package protocol S3Requests: Backend {
    var s3: S3Location { get }
    var lockState: S3LockState { get }
    func send(_ method: String, key: String?, query: [(String, String)], headers: [(String, String)], body: [UInt8]?, payloadHash: String?,
              contentType: String?, expected: Int, errorMayHide200: Bool, retry: RetryPolicy?) throws -> (response: HTTPResponse, attempts: Int, seconds: Double)
    /// `seconds`: how long the attempts took, for the message (nil: not said).
    func failure(_ r: HTTPResponse, _ what: String, key: ObjectKey?, attempts: Int, seconds: Double?) -> LifeboatError
    func errorCode(_ r: HTTPResponse) -> String?
    func missingError(_ key: ObjectKey) -> LifeboatError
    /// Runs `body`, taking every secret out of the message of an error it throws.
    func scrubbing<T>(_ body: () throws -> T) throws -> T
}

extension S3Requests {
    /// `send` with the defaults of a small request (no payload hash given, no size expected).
    package func request(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                         body: [UInt8]? = nil, contentType: String? = nil, retry: RetryPolicy? = nil) throws -> (response: HTTPResponse, attempts: Int, seconds: Double) {
        try send(method, key: key, query: query, headers: headers, body: body, payloadHash: nil, contentType: contentType,
                 expected: 0, errorMayHide200: false, retry: retry)
    }
}
