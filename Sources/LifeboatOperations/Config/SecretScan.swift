import Foundation
import Yams
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Refuses a config file that holds a secret instead of a reference to one. Config files get
/// copied into tickets, wikis and version control; a passphrase or access key in one is a
/// leak waiting to happen. Two rules:
/// 1. a setting named like a secret (password, secret_access_key, token, ...) must be a
///    reference mapping ({file|command|env: ...}), never a plain value;
/// 2. no value may look like key material: AWS access key ids, PEM blocks, or long
///    high-entropy strings without spaces or slashes (keys, tokens, base64 blobs).
/// Messages give the line and the setting's name, never the value.
package enum SecretScan {
    package static let secretNames: Set<String> = [
        "password", "passphrase", "pass", "passwd", "secret", "secret_key", "secret_access_key",
        "aws_secret_access_key", "access_key", "access_key_id", "aws_access_key_id", "token",
        "session_token", "aws_session_token", "api_key", "apikey", "private_key", "key", "master_key",
        "credentials", "credential",
    ]

    package static func check(_ node: Node, reader r: ConfigLoader.Reader, key: String? = nil) throws {
        switch node {
        case .scalar(let s):
            if let key, secretNames.contains(normalize(key)) {
                throw r.error(node, "'\(key)' holds a value, and the config file must not contain secrets; give a reference instead, e.g. \(key): { file: /etc/lifeboat/\(normalize(key)) } (mode 600), { command: ... } or { env: VARIABLE }")
            }
            if looksLikeSecret(s.string) {
                throw r.error(node, "\(key.map { "the value of '\($0)'" } ?? "a value") looks like a key or passphrase; the config file must not contain secrets: put it in a file readable only by the backup user and reference it ({ file: PATH }), or use { env: VARIABLE } or { command: ... }")
            }
        case .mapping(let m):
            for pair in m {
                let k = pair.key.scalar?.string
                if let k, looksLikeSecret(k) {
                    throw r.error(pair.key, "a setting name looks like a key or passphrase; the config file must not contain secrets")
                }
                try check(pair.value, reader: r, key: k)
            }
        case .sequence(let s):
            for item in s { try check(item, reader: r, key: key) }
        }
    }

    package static func normalize(_ key: String) -> String {
        key.lowercased().replacingOccurrences(of: "-", with: "_")
    }

    package static func looksLikeSecret(_ value: String) -> Bool {
        let v = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if v.contains("-----BEGIN") { return true }
        // Paths and URLs are not keys (credentials inside URLs are refused where locations are read).
        if v.hasPrefix("/") || v.hasPrefix("~") || v.hasPrefix(".") || v.contains("://") { return false }
        // Look at every unbroken run of base64 characters: identifiers like
        // requests_2024_ProcessEngine break into short words, keys and tokens do not.
        var runs: [Substring] = []
        var start: String.Index?
        for i in v.indices {
            let c = v[i]
            let isBase64 = c.isASCII && (c.isLetter || c.isNumber || c == "+" || c == "/" || c == "=")
            if isBase64 { if start == nil { start = i } } else if let s = start {
                runs.append(v[s..<i])
                start = nil
            }
        }
        if let s = start { runs.append(v[s...]) }
        return runs.contains { run in
            let scalars = run.unicodeScalars
            let lower = scalars.contains { ("a"..."z").contains($0) }
            let upper = scalars.contains { ("A"..."Z").contains($0) }
            let digit = scalars.contains { ("0"..."9").contains($0) }
            // AWS access key ids: AKIA/ASIA + 16 upper-case letters or digits.
            if run.count == 20 && (run.hasPrefix("AKIA") || run.hasPrefix("ASIA")) && !lower { return true }
            guard run.count >= 24 else { return false }
            // Hex keys and digests: 32+ hex digits with letters and digits.
            let isHex = scalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) || ("A"..."F").contains($0) }
            if isHex && run.count >= 32 && digit && (lower || upper) { return true }
            // Base64 tokens: all three character classes and high entropy.
            return lower && upper && digit && entropyPerCharacter(String(run)) >= 3.5
        }
    }

    package static func entropyPerCharacter(_ s: String) -> Double {
        var counts: [UInt8: Int] = [:]
        for b in s.utf8 { counts[b, default: 0] += 1 }
        let n = Double(s.utf8.count)
        return counts.values.reduce(0) { acc, c in
            let p = Double(c) / n
            return acc - p * log2(p)
        }
    }
}
