import Foundation
import Yams
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Reads and validates `lifeboat.yml`. Every error names the file and line, and none quotes
/// the offending text: a line that was refused because it looks like a secret must not end
/// up in a cron mail.
///
/// ```yaml
/// repositories:                # primary first, then replicas
///   - /srv/lifeboat
///   - s3://backups-eu/lifeboat
/// password:                    # a reference: file, command or env — never the passphrase
///   file: /etc/lifeboat/passphrase
/// defaults: { rpo: 25h, rto: 30m, verify_within: 2d, drill_within: 365d }
/// retention: { keep_daily: 14, keep_weekly: 8, keep_monthly: 12, keep_yearly: 3 }
/// metrics_file: /var/lib/prometheus/node-exporter/lifeboat.prom
/// drill_history: /var/lib/lifeboat/drill-reports   # where `drill run` files reports, `status` looks
/// lock: { stale_after: 30m }
/// object_lock: { mode: compliance, retain_days: 30 }   # S3 Object Lock (docs/s3.md)
/// sources:
///   - name: requests
///     path: /var/lib/bpm/requests.db
///     rpo: 1h
/// ```
public enum ConfigLoader {
    public static func load(path: String) throws -> LifeboatConfig {
        guard FileIO.fileExists(path) else {
            throw LifeboatError(.usage, "config file \(path) does not exist (given by --config or LIFEBOAT_CONFIG)")
        }
        let bytes = try FileIO.readFile(path)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw LifeboatError(.usage, "config file \(path) is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> LifeboatConfig {
        let document = try YAMLDocument(text, path: path)
        var config = LifeboatConfig(path: path)
        guard let root = document.root else { return config }
        let r = Reader(document: document)
        // Secrets first: a config holding one is refused whatever else is wrong with it.
        try SecretScan.check(root, reader: r)
        let top = try r.mapping(root, "the config file")
        for (keyNode, value) in top {
            let key = try r.key(keyNode)
            switch key {
            case "repositories":
                config.repositories = try r.sequence(value, key).map { try r.location($0, "repositories") }
                if config.repositories.isEmpty { throw r.error(value, "'repositories' is empty: list at least one location") }
            case "password":
                config.password = try r.secretReference(value, key)
            case "defaults":
                for (k, v) in try r.mapping(value, key) {
                    switch try r.key(k) {
                    case "rpo": config.rpo = try r.duration(v, "rpo")
                    case "rto": config.rto = try r.duration(v, "rto")
                    case "verify_within": config.verifyWithin = try r.duration(v, "verify_within")
                    case "drill_within": config.drillWithin = try r.duration(v, "drill_within")
                    case let other: throw r.unknown(k, other, in: "defaults", known: ["rpo", "rto", "verify_within", "drill_within"])
                    }
                }
            case "rpo": config.rpo = try r.duration(value, key)
            case "rto": config.rto = try r.duration(value, key)
            case "retention": config.retention = try r.retention(value)
            case "metrics_file": config.metricsFile = try r.string(value, key)
            case "drill_history": config.drillHistory = try r.string(value, key)
            case "lock":
                for (k, v) in try r.mapping(value, key) {
                    switch try r.key(k) {
                    case "stale_after": config.lockStaleAfter = try r.duration(v, "stale_after")
                    case let other: throw r.unknown(k, other, in: "lock", known: ["stale_after"])
                    }
                }
            case "sources":
                config.sources = try r.sequence(value, key).map { try r.source($0) }
            case "object_lock":
                var mode: String?, days: String?
                for (k, v) in try r.mapping(value, key) {
                    switch try r.key(k) {
                    case "mode": mode = try r.string(v, "mode")
                    case "retain_days": days = String(try r.int(v, "retain_days", allowAll: false))
                    case let other: throw r.unknown(k, other, in: "object_lock", known: ["mode", "retain_days"])
                    }
                }
                guard mode != nil, days != nil else { throw r.error(value, "'object_lock' needs both mode (compliance or governance) and retain_days") }
                do { config.objectLock = try ObjectLockPolicy.parse(mode: mode, retain: days) } catch let e as LifeboatError {
                    throw r.error(value, "'object_lock': \(e.message)")
                }
            case let other:
                throw r.unknown(keyNode, other, in: "the config file",
                                known: ["repositories", "password", "defaults", "retention", "metrics_file", "drill_history", "lock", "object_lock", "sources"])
            }
        }
        var seen: [String: Int] = [:]
        for s in config.sources {
            if let first = seen[s.name] {
                throw LifeboatError(.usage, "\(path) line \(s.line): source '\(s.name)' is already defined at line \(first)")
            }
            seen[s.name] = s.line
        }
        return config
    }

    /// Typed access to nodes, with errors that point at lines.
    package struct Reader {
        package let document: YAMLDocument

        package func line(_ node: Node) -> Int { YAMLDocument.line(node) }

        package func error(_ node: Node, _ problem: String) -> LifeboatError { document.error(node, problem) }

        package func unknown(_ node: Node, _ key: String, in context: String, known: [String]) -> LifeboatError {
            document.unknownKey(node, key, in: context, known: known, noun: "setting")
        }

        package func key(_ node: Node) throws -> String {
            guard let s = node.scalar?.string else { throw error(node, "a setting name must be a plain word") }
            return s
        }

        package func mapping(_ node: Node, _ what: String) throws -> [(Node, Node)] {
            guard let m = node.mapping else { throw error(node, "'\(what)' must be a mapping of settings (key: value)") }
            return try document.entries(m).map { ($0.keyNode, $0.value) }
        }

        package func sequence(_ node: Node, _ what: String) throws -> [Node] {
            guard let s = node.sequence else { throw error(node, "'\(what)' must be a list (lines starting with '- ')") }
            return Array(s)
        }

        package func string(_ node: Node, _ what: String) throws -> String {
            guard let s = node.scalar?.string, !s.isEmpty else { throw error(node, "'\(what)' must be a non-empty text value") }
            return s
        }

        package func location(_ node: Node, _ what: String) throws -> String {
            let s = try string(node, what)
            // s3://key:secret@host would put credentials in the config.
            if let scheme = s.range(of: "://"), s[scheme.upperBound...].split(separator: "/").first?.contains("@") == true {
                throw error(node, "a repository location must not carry credentials (user:secret@); give them by reference")
            }
            return s
        }

        package func int(_ node: Node, _ what: String, allowAll: Bool) throws -> Int {
            if allowAll, node.scalar?.string == "all" { return -1 }
            guard let s = node.scalar?.string, let n = Int(s), n >= (allowAll ? -1 : 0) else {
                throw error(node, "'\(what)' must be a whole number\(allowAll ? " (or 'all', or -1)" : "")")
            }
            return n
        }

        package func duration(_ node: Node, _ what: String) throws -> Double {
            let s = try string(node, what)
            do { return try Units.parseDuration(s) } catch let e as LifeboatError {
                throw error(node, "'\(what)': \(e.message)")
            }
        }

        package func secretReference(_ node: Node, _ what: String) throws -> LifeboatConfig.SecretReference {
            let pairs = try mapping(node, what)
            guard pairs.count == 1, let (k, v) = pairs.first else {
                throw error(node, "'\(what)' must name exactly one of file, command or env")
            }
            let value = try string(v, "\(what).\(try key(k))")
            switch try key(k) {
            case "file": return .file(value)
            case "command": return .command(value)
            case "env": return .environment(value)
            case let other: throw unknown(k, other, in: "'\(what)'", known: ["file", "command", "env"])
            }
        }

        package func retention(_ node: Node) throws -> RetentionPolicy {
            var p = RetentionPolicy()
            for (k, v) in try mapping(node, "retention") {
                switch try key(k) {
                case "keep_last": p.last = try int(v, "keep_last", allowAll: true)
                case "keep_hourly": p.hourly = try int(v, "keep_hourly", allowAll: true)
                case "keep_daily": p.daily = try int(v, "keep_daily", allowAll: true)
                case "keep_weekly": p.weekly = try int(v, "keep_weekly", allowAll: true)
                case "keep_monthly": p.monthly = try int(v, "keep_monthly", allowAll: true)
                case "keep_yearly": p.yearly = try int(v, "keep_yearly", allowAll: true)
                case "keep_within":
                    do { p.within = try CalendarSpan.parse(try string(v, "keep_within")) } catch let e as LifeboatError {
                        throw error(v, e.message)
                    }
                case let other:
                    throw unknown(k, other, in: "retention", known: ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within"])
                }
            }
            if p.isEmpty { throw error(node, "retention keeps nothing: set at least one keep_* value above 0") }
            return p
        }

        package func source(_ node: Node) throws -> LifeboatConfig.Source {
            var name: String?
            var dbPath: String?
            var s = LifeboatConfig.Source(name: "", path: "", line: line(node))
            for (k, v) in try mapping(node, "sources entry") {
                switch try key(k) {
                case "name":
                    let n = try string(v, "name")
                    guard SourceNames.isValid(n) else { throw error(v, "source name '\(n)' may contain only letters, digits, '.', '_' and '-'") }
                    name = n
                case "path": dbPath = try string(v, "path")
                case "rpo": s.rpo = try duration(v, "rpo")
                case "rto": s.rto = try duration(v, "rto")
                case "verify_within": s.verifyWithin = try duration(v, "verify_within")
                case "drill_within": s.drillWithin = try duration(v, "drill_within")
                case "retention": s.retention = try retention(v)
                case let other: throw unknown(k, other, in: "a source", known: ["name", "path", "rpo", "rto", "verify_within", "drill_within", "retention"])
                }
            }
            guard let dbPath else { throw error(node, "a source needs 'path' (the SQLite database file)") }
            s.path = dbPath
            s.name = name ?? (dbPath as NSString).lastPathComponent
            guard SourceNames.isValid(s.name) else { throw error(node, "give this source a 'name' (letters, digits, '.', '_', '-')") }
            return s
        }
    }
}

/// The rule for source names, shared by the CLI and the config.
public enum SourceNames {
    public static func isValid(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 128 && s.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)
        }
    }
}
