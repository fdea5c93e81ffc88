import Foundation
import LifeboatCore

/// One level of a bucket or prefix, for `lifeboat status --all`: ListObjectsV2 with a "/"
/// delimiter names the prefixes directly below (one per host) and the objects right here
/// (a `config` object: a repository lives here) without listing what is inside them.
extension S3Backend: LocationListing {
    package func listLevel() throws -> LocationLevel {
        try scrubbing {
            let prefix = s3.keyPrefix("")
            var holds = false
            var children: [String] = []
            var token: String?
            repeat {
                var query = [("list-type", "2"), ("prefix", prefix), ("delimiter", "/")]
                if let token { query.append(("continuation-token", token)) }
                let r = try send("GET", key: nil, query: query)
                guard r.response.status == 200 else {
                    throw failure(r.response, "list", key: nil, attempts: r.attempts, seconds: r.seconds)
                }
                let xml = String(decoding: r.response.body, as: UTF8.self)[...]
                for entry in S3XML.blocks("Contents", in: xml) where S3XML.value("Key", in: entry) == prefix + "config" {
                    holds = true
                }
                for block in S3XML.blocks("CommonPrefixes", in: xml) {
                    guard let full = S3XML.value("Prefix", in: block), full.hasPrefix(prefix) else { continue }
                    var name = String(full.dropFirst(prefix.count))
                    if name.hasSuffix("/") { name.removeLast() }
                    if !name.isEmpty && !name.contains("/") { children.append(name) }
                }
                let truncated = S3XML.value("IsTruncated", in: xml) == "true"
                token = truncated ? S3XML.value("NextContinuationToken", in: xml) : nil
                if truncated && token == nil {
                    throw LifeboatError(.network, "\(s3.authority) sent a truncated listing without a continuation token; the server is not S3-compatible enough")
                }
            } while token != nil
            return LocationLevel(holdsRepository: holds, children: holds ? [] : children)
        }
    }
}
