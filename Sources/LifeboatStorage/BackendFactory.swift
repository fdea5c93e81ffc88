import Foundation
import LifeboatCore

/// How to open a repository location; the command line fills it from flags and environment.
public struct BackendOptions: Sendable {
    /// CA bundle for private endpoints (--cacert); defaults to LIFEBOAT_CACERT.
    public var caCertPath: String?
    /// Permit plain http:// to loopback hosts only (test servers on 127.0.0.1).
    public var allowInsecureHTTP: Bool
    /// Explicit credentials (e.g. per source from a secrets command); nil: AWS conventions.
    public var credentials: S3Credentials?
    /// Explicit region; nil: AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config / us-east-1.
    public var region: String?
    public var s3: S3Options
    /// Where AWS_* variables are read from (tests pass their own).
    public var environment: [String: String]

    public init(caCertPath: String? = nil, allowInsecureHTTP: Bool = false, credentials: S3Credentials? = nil,
                region: String? = nil, s3: S3Options = S3Options(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.caCertPath = caCertPath
        self.allowInsecureHTTP = allowInsecureHTTP
        self.credentials = credentials
        self.region = region
        self.s3 = s3
        self.environment = environment
    }
}

/// Maps a repository location to its backend: `s3:…` to S3, anything else to a local path.
public func openBackend(location: String, options: BackendOptions = BackendOptions()) throws -> any Backend {
    if S3Location.isS3(location) {
        let env = options.environment
        let region = options.region ?? S3Credentials.region(environment: env)
        let parsed = try S3Location.parse(location, region: region, environment: env, allowInsecureHTTP: options.allowInsecureHTTP)
        let credentials = try options.credentials ?? S3Credentials.resolve(environment: env)
        var s3 = options.s3
        if let ca = options.caCertPath ?? env["LIFEBOAT_CACERT"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard FileIO.fileExists(ca) else {
                throw LifeboatError(.usage, "CA bundle \(ca) does not exist; check --cacert / LIFEBOAT_CACERT")
            }
            s3.transport.caCertPath = ca
        }
        // Operators on slow links (and tests that freeze a server) tune how long a stalled
        // request may hang and how long retries may go on.
        if let t = env["LIFEBOAT_S3_TIMEOUT"].flatMap(Double.init), t > 0 {
            s3.transport.connectTimeout = t
            s3.transport.stallTimeout = max(1, Int(t.rounded(.up)))
        }
        if let t = env["LIFEBOAT_S3_RETRY_SECONDS"].flatMap(Double.init), t >= 0 {
            s3.retry.maxTotal = t
        }
        // More requests in flight fill a long fat pipe (a restore across regions); fewer
        // spare a small or rate-limited endpoint.
        if let text = env["LIFEBOAT_S3_CONNECTIONS"], !text.isEmpty {
            guard let n = Int(text), (1...64).contains(n) else {
                throw LifeboatError(.usage, "LIFEBOAT_S3_CONNECTIONS must be a count from 1 to 64, not '\(text)'")
            }
            s3.connections = n
            s3.maxIdleConnections = max(s3.maxIdleConnections, 2 * n)
        }
        return S3Backend(location: parsed, credentials: credentials, options: s3)
    }
    if location.contains("://") {
        throw LifeboatError(.usage, "unknown repository location scheme in '\(location)'; use a directory path, s3:https://HOST/BUCKET[/PREFIX] or s3://BUCKET[/PREFIX]")
    }
    guard !location.isEmpty else { throw LifeboatError(.usage, "empty repository location") }
    return LocalBackend(path: location)
}
