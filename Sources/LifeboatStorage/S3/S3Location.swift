import LifeboatCore

/// Where an S3 repository lives, parsed from the forms users write:
/// - `s3:https://HOST[:PORT]/BUCKET[/PREFIX]`: any S3-compatible endpoint, path-style.
/// - `s3://BUCKET[/PREFIX]`: `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` when set (path-style),
///   else AWS itself, virtual-hosted `https://BUCKET.s3.REGION.amazonaws.com`.
/// Plain `http://` is refused unless explicitly allowed, and then only for loopback hosts.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public let scheme: String
    /// Host as written in a URL (IPv6 in brackets).
    public let host: String
    public let port: Int?
    public let bucket: String
    /// Key prefix without leading or trailing slash; empty for the bucket root.
    public let prefix: String
    public let virtualHosted: Bool
    public let region: String
    /// The location as the user wrote it (normalised); never holds credentials.
    public let description: String

    public static func isS3(_ location: String) -> Bool { location.hasPrefix("s3:") }

    public static func parse(_ location: String, region: String, environment: [String: String], allowInsecureHTTP: Bool) throws -> S3Location {
        if location.hasPrefix("s3://") {
            let (bucket, prefix) = try splitBucket(String(location.dropFirst("s3://".count)), original: "s3://…")
            let display = "s3://" + bucket + (prefix.isEmpty ? "" : "/" + prefix)
            let endpoint = environment["AWS_ENDPOINT_URL_S3"].flatMap { $0.isEmpty ? nil : $0 }
                ?? environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 }
            if let endpoint {
                let (scheme, host, port, path) = try splitURL(endpoint, what: "AWS_ENDPOINT_URL")
                guard path.isEmpty || path == "/" else {
                    throw LifeboatError(.usage, "AWS_ENDPOINT_URL must be scheme://host[:port] without a path; put the bucket in the repository location")
                }
                try checkScheme(scheme, host: host, allowInsecureHTTP: allowInsecureHTTP)
                return S3Location(scheme: scheme, host: host, port: port, bucket: bucket, prefix: prefix,
                                  virtualHosted: false, region: region, description: display)
            }
            // Dotted bucket names break the *.s3 wildcard certificate: AWS wants path-style then.
            let dotted = bucket.contains(".")
            let host = dotted ? "s3.\(region).amazonaws.com" : "\(bucket).s3.\(region).amazonaws.com"
            return S3Location(scheme: "https", host: host, port: nil, bucket: bucket, prefix: prefix,
                              virtualHosted: !dotted, region: region, description: display)
        }
        guard location.hasPrefix("s3:") else {
            throw LifeboatError(.usage, "not an S3 location; write s3:https://HOST[:PORT]/BUCKET[/PREFIX] or s3://BUCKET/PREFIX")
        }
        let url = String(location.dropFirst("s3:".count))
        let (scheme, host, port, path) = try splitURL(url, what: "repository location")
        try checkScheme(scheme, host: host, allowInsecureHTTP: allowInsecureHTTP)
        let (bucket, prefix) = try splitBucket(path, original: "s3:\(scheme)://\(host)")
        let authority = host + (port.map { ":\($0)" } ?? "")
        let display = "s3:\(scheme)://\(authority)/\(bucket)" + (prefix.isEmpty ? "" : "/" + prefix)
        return S3Location(scheme: scheme, host: host, port: port, bucket: bucket, prefix: prefix,
                          virtualHosted: false, region: region, description: display)
    }

    /// host[:port] for messages and the URL.
    public var authority: String { host + (port.map { ":\($0)" } ?? "") }

    /// The URL of an object (key relative to the prefix), or of the bucket when key is nil.
    /// Query parameters are sorted and encoded exactly as SigV4 canonicalises them, because
    /// libcurl 7.88 signs the query string as it is sent.
    package func url(key: String?, query: [(String, String)] = []) -> String {
        var path = virtualHosted ? "" : "/" + bucket
        if let key {
            path += "/" + S3Location.encode(prefix.isEmpty ? key : prefix + "/" + key, keepSlash: true)
        } else if virtualHosted {
            path = "/"
        }
        var url = "\(scheme)://\(authority)\(path)"
        if !query.isEmpty {
            let sorted = query.map { (S3Location.encode($0.0, keepSlash: false), S3Location.encode($0.1, keepSlash: false)) }
                .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            // Always "name=value", also for valueless ones ("uploads="): that is the canonical form.
            url += "?" + sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        return url
    }

    /// The key prefix (with trailing slash) that objects under `path` share, for listings.
    package func keyPrefix(_ path: String) -> String {
        prefix.isEmpty ? path : prefix + "/" + path
    }

    /// Strips the repository prefix from a listed key; nil for keys outside it.
    package func relativeKey(_ key: String) -> String? {
        if prefix.isEmpty { return key }
        let p = prefix + "/"
        guard key.hasPrefix(p) else { return nil }
        return String(key.dropFirst(p.count))
    }

    /// SigV4 URI encoding: unreserved characters stay, everything else is %XX (upper case).
    package static func encode(_ s: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0x0f)])
            }
        }
        return out
    }

    /// True for 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(_ host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.compactMap { $0.count <= 3 && $0.allSatisfy(\.isNumber) ? Int($0) : nil }
        return values.count == 4 && values.allSatisfy { $0 <= 255 } && values[0] == 127
    }

    private static func checkScheme(_ scheme: String, host: String, allowInsecureHTTP: Bool) throws {
        switch scheme {
        case "https":
            return
        case "http":
            guard allowInsecureHTTP else {
                throw LifeboatError(.usage, "refusing plain http:// to \(host): data and credentials would cross the network unprotected; use https://")
            }
            guard isLoopback(host) else {
                throw LifeboatError(.usage, "refusing plain http:// to \(host): the insecure-HTTP flag only permits loopback hosts (127.0.0.1, ::1, localhost); use https://")
            }
        default:
            throw LifeboatError(.usage, "unsupported scheme '\(scheme)' in S3 location; use https://")
        }
    }

    /// scheme://host[:port]/path -> parts. Refuses credentials embedded in the URL, without
    /// echoing them.
    private static func splitURL(_ url: String, what: String) throws -> (String, String, Int?, String) {
        guard let sep = url.range(of: "://") else {
            throw LifeboatError(.usage, "\(what) must look like https://HOST[:PORT]/…")
        }
        let scheme = url[..<sep.lowerBound].lowercased()
        let rest = url[sep.upperBound...]
        let authority = String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
        let path = String(rest.dropFirst(authority.count))
        if authority.contains("@") {
            throw LifeboatError(.usage, "credentials do not belong in the \(what); remove user:password@ and use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
        }
        if path.contains("?") || path.contains("#") {
            throw LifeboatError(.usage, "the \(what) must not contain ? or #")
        }
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw LifeboatError(.usage, "bad IPv6 address in the \(what)")
            }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 } else if !after.isEmpty { port = -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        }
        if let p = port, !(1...65535).contains(p) {
            throw LifeboatError(.usage, "bad port in the \(what) \(scheme)://\(host)")
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-.:[]_".contains($0) }) else {
            throw LifeboatError(.usage, "bad host name in the \(what)")
        }
        return (scheme, host.lowercased(), port, path)
    }

    /// "BUCKET[/PREFIX]" with optional leading slash -> (bucket, prefix without slashes).
    private static func splitBucket(_ path: String, original: String) throws -> (String, String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let bucket = parts.first else {
            throw LifeboatError(.usage, "no bucket in \(original); write …/BUCKET[/PREFIX]")
        }
        // S3 bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens.
        let valid = (3...63).contains(bucket.count)
            && bucket.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" }
            && bucket.first != "-" && bucket.first != "."
        guard valid else {
            throw LifeboatError(.usage, "'\(bucket)' is not a valid bucket name (3-63 lower-case letters, digits, dots, hyphens)")
        }
        let prefix = parts.dropFirst().joined(separator: "/")
        guard !parts.dropFirst().contains(where: { $0 == "." || $0 == ".." }) else {
            throw LifeboatError(.usage, "the prefix in \(original)/\(bucket) must not contain . or .. segments")
        }
        return (bucket, prefix)
    }
}
