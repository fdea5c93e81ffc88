import Foundation
import LifeboatCore

/// Credentials for one S3 endpoint, found where AWS tools look for them. The secret and the
/// session token never appear in `description`, `debugDescription` or any error. The secret
/// lives in `SecretBytes` (wiped when freed) until a request hands it to libcurl.
public struct S3Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let accessKeyID: String
    package let secretAccessKey: SecretBytes
    package let sessionToken: String?
    /// Where they came from, for messages ("environment", "profile backup in ~/.aws/credentials").
    public let source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "explicit") {
        self.accessKeyID = accessKeyID
        var secret = Array(secretAccessKey.utf8)
        self.secretAccessKey = SecretBytes(consuming: &secret)
        self.sessionToken = sessionToken.flatMap { $0.isEmpty ? nil : $0 }
        self.source = source
    }

    public var description: String { "S3 credentials from \(source) (secret redacted)" }
    public var debugDescription: String { description }

    /// `text` with every secret replaced, for text that leaves the backend.
    package func redacting(_ text: String) -> String {
        var out = text
        let secret = secretAccessKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        for s in [secret] + (sessionToken.map { [$0] } ?? []) where !s.isEmpty {
            out = out.replacingOccurrences(of: s, with: "<redacted>")
        }
        return out
    }

    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when set, else the
    /// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile
    /// AWS_PROFILE or "default".
    public static func resolve(environment env: [String: String]) throws -> S3Credentials {
        let id = env["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = env["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (id, secret) {
        case let (id?, secret?):
            return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"], source: "the environment")
        case (.some, nil):
            throw LifeboatError(.usage, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both (or neither, to use the shared credentials file)")
        case (nil, .some):
            throw LifeboatError(.usage, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both (or neither, to use the shared credentials file)")
        case (nil, nil):
            break
        }
        let profile = env["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let path = credentialsFilePath(env)
        guard FileIO.fileExists(path) else {
            throw LifeboatError(.usage, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in \(path)")
        }
        let sections = try parseINI(path)
        guard let values = sections[profile] else {
            throw LifeboatError(.usage, "profile '\(profile)' is not in \(path); set AWS_PROFILE to one of its profiles")
        }
        guard let fileID = values["aws_access_key_id"], let fileSecret = values["aws_secret_access_key"] else {
            throw LifeboatError(.usage, "profile '\(profile)' in \(path) lacks aws_access_key_id or aws_secret_access_key")
        }
        return S3Credentials(accessKeyID: fileID, secretAccessKey: fileSecret, sessionToken: values["aws_session_token"],
                             source: "profile \(profile) in \(path)")
    }

    /// AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config, else us-east-1.
    public static func region(environment env: [String: String]) -> String {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let r = env[name], !r.isEmpty { return r }
        }
        let profile = env["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let path = env["AWS_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? home(env) + "/.aws/config"
        if FileIO.fileExists(path), let sections = try? parseINI(path) {
            let section = profile == "default" ? sections["default"] : (sections["profile " + profile] ?? sections[profile])
            if let r = section?["region"], !r.isEmpty { return r }
        }
        return "us-east-1"
    }

    package static func credentialsFilePath(_ env: [String: String]) -> String {
        env["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? home(env) + "/.aws/credentials"
    }

    private static func home(_ env: [String: String]) -> String {
        env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }

    /// The INI dialect of the AWS files: [section], key = value, # and ; comments.
    package static func parseINI(_ path: String) throws -> [String: [String: String]] {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: [:]][key] = value
        }
        return sections
    }
}
