import Foundation
import Yams
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// Reads and checks a scenario file. Every error is one line naming the file and line and
/// saying what to write instead, so an operator can fix a scenario without reading code.
public enum ScenarioLoader {
    public static func load(path: String) throws -> Scenario {
        let bytes: [UInt8]
        do { bytes = try FileIO.readFile(path) } catch let e as LifeboatError {
            throw LifeboatError(.usage, "cannot read scenario: \(e.message)")
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw LifeboatError(.usage, "\(path): not UTF-8 text")
        }
        return try parse(text, file: path, sha256: SHA256.hex(bytes))
    }

    public static func parse(_ text: String, file: String, sha256: String? = nil) throws -> Scenario {
        let document = try YAMLDocument(text, path: file)
        guard let root = document.root else { throw document.error(line: 1, "the file is empty") }
        return try Decoder(document: document).scenario(root, sha256: sha256 ?? SHA256.hex(Array(text.utf8)))
    }

    package struct Decoder {
        package let document: YAMLDocument

        package func fail(_ node: Node, _ message: String) -> LifeboatError { document.error(node, message) }
        package func fail(_ line: Int, _ message: String) -> LifeboatError { document.error(line: line, message) }

        package static func kindName(_ node: Node) -> String {
            switch node {
            case .scalar: return "a value"
            case .mapping: return "a mapping (key: value lines)"
            case .sequence: return "a list (- item lines)"
            }
        }

        /// A mapping's entries with the keys checked against the allowed set.
        package func fields(_ node: Node, _ what: String, allowed: [String]) throws -> Fields {
            guard let mapping = node.mapping else {
                throw fail(node, "\(what) must be a mapping (key: value lines), not \(Self.kindName(node))")
            }
            let entries = try document.entries(mapping)
            for e in entries {
                if SecretScan.secretNames.contains(SecretScan.normalize(e.key)) {
                    throw fail(e.keyNode, "'\(e.key)': secrets never go in scenario files; give password_prefix and set PREFIX_PASSWORD_FILE or PREFIX_PASSWORD_COMMAND in the environment")
                }
                guard allowed.contains(e.key) else { throw document.unknownKey(e.keyNode, e.key, in: what, known: allowed) }
            }
            return Fields(document: document, node: node, entries: entries, what: what)
        }

        package func scenario(_ root: Node, sha256: String) throws -> Scenario {
            let f = try fields(root, "the scenario", allowed: ["name", "description", "source", "repositories", "targets", "projection", "steps"])
            let name = try f.text("name")
            let description = try f.optionalText("description") ?? ""
            let source = try self.source(try f.required("source"))
            let repositories = try self.repositories(try f.required("repositories"))
            let targets = try self.targets(try f.required("targets"))
            let stepsNode = try f.required("steps")
            guard let items = stepsNode.sequence, !items.isEmpty else {
                throw fail(stepsNode, "steps must be a list of '- step: …' lines (workload, snapshot, snapshot_schedule, replicate, wait, disaster, restore, verify)")
            }
            let steps = try items.map { try step($0) }
            var s = Scenario(name: name.trimmingCharacters(in: .whitespacesAndNewlines),
                             description: description.trimmingCharacters(in: .whitespacesAndNewlines),
                             file: document.path, fileSHA256: sha256, source: source, repositories: repositories,
                             targets: targets, steps: steps, projection: try f.optional("projection").map { try projection($0) })
            try check(&s, stepsLine: YAMLDocument.line(stepsNode))
            return s
        }

        package func source(_ node: Node) throws -> Scenario.Source {
            let f = try fields(node, "source", allowed: ["name", "generate", "copy", "live", "rpo_query", "rpo_unit"])
            let given = ["generate", "copy", "live"].filter { f.has($0) }
            guard given.count == 1 else {
                throw fail(node, "source needs exactly one of generate (a process database the drill creates), copy: PATH (a consistent copy of your database) or live: PATH (read only)")
            }
            var origin: Scenario.Source.Origin
            var defaultName = "process.db"
            switch given[0] {
            case "generate":
                let g = try f.required("generate")
                let gf = try fields(g, "source.generate", allowed: ["size", "seed", "journal"])
                let size = try gf.optional("size").map { try bytes($0) } ?? 8 << 20
                guard size >= 64 << 10 else { throw fail(g, "source.generate.size must be at least 64KiB") }
                let journalText = try gf.optionalText("journal") ?? "wal"
                guard let journal = JournalMode(rawValue: journalText.lowercased()) else {
                    throw fail(gf.line("journal"), "journal must be wal or delete, not '\(journalText)'")
                }
                origin = .generate(size: size, seed: UInt64(try gf.optionalInt("seed") ?? 1), journal: journal)
            case "copy":
                let p = try f.text("copy")
                origin = .copy(p)
                defaultName = (p as NSString).lastPathComponent
            default:
                let p = try f.text("live")
                origin = .live(p)
                defaultName = (p as NSString).lastPathComponent
            }
            let name = try f.optionalText("name") ?? defaultName
            let nameOK = !name.isEmpty && name.count <= 128 && name.unicodeScalars.allSatisfy {
                CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)
            }
            guard nameOK else { throw fail(f.line("name"), "source name '\(name)' may contain only letters, digits, '.', '_' and '-'") }
            let unit = try f.optionalText("rpo_unit") ?? "s"
            guard unit == "s" || unit == "ms" else { throw fail(f.line("rpo_unit"), "rpo_unit must be s or ms (what the rpo_query's number counts since 1970)") }
            return Scenario.Source(origin: origin, name: name, rpoQuery: try f.optionalText("rpo_query"), rpoUnitMilliseconds: unit == "ms")
        }

        package func repositories(_ node: Node) throws -> [Scenario.RepositorySpec] {
            guard let items = node.sequence, !items.isEmpty else {
                throw fail(node, "repositories must be a list, e.g. '- {name: primary, location: scratch}'")
            }
            var out: [Scenario.RepositorySpec] = []
            for item in items {
                let f = try fields(item, "a repository", allowed: ["name", "location", "replica_of", "password_prefix"])
                let name = try f.text("name")
                if out.contains(where: { $0.name == name }) { throw fail(item, "repository name '\(name)' is used twice") }
                let location = try f.text("location")
                let prefix = try f.optionalText("password_prefix") ?? "LIFEBOAT"
                guard !prefix.isEmpty, prefix.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else {
                    throw fail(f.line("password_prefix"), "password_prefix must be an environment variable prefix such as LIFEBOAT_OFFSITE")
                }
                out.append(.init(name: name, location: location == "scratch" ? nil : location,
                                 replicaOf: try f.optionalText("replica_of"), passwordPrefix: prefix, line: YAMLDocument.line(item)))
            }
            for r in out {
                guard let of = r.replicaOf else { continue }
                guard let primary = out.first(where: { $0.name == of }), primary.name != r.name else {
                    throw fail(r.line, "replica_of: '\(of)' names no other repository of this scenario")
                }
                guard r.isScratch, primary.isScratch, primary.replicaOf == nil else {
                    throw fail(r.line, "replica_of is for scratch repositories the drill fills itself; list an existing replica with its location and no replica_of")
                }
            }
            return out
        }

        package func targets(_ node: Node) throws -> Scenario.Targets {
            let f = try fields(node, "targets", allowed: ["rto", "rpo", "max_lost_transactions"])
            let rto = try duration(try f.required("rto"))
            let rpo = try duration(try f.required("rpo"))
            return .init(rto: rto, rpo: rpo, maxLostTransactions: try f.optionalInt("max_lost_transactions"))
        }

        /// `projection: {production_size: 40GiB, link: 1Gbit/s}`: both needed, a projection
        /// without the link's bound would flatter.
        package func projection(_ node: Node) throws -> Scenario.Projection {
            let f = try fields(node, "projection", allowed: ["production_size", "link"])
            let size = try bytes(try f.required("production_size"))
            guard size > 0 else { throw fail(f.line("production_size"), "projection.production_size must be more than 0, e.g. 40GiB") }
            let link = try scalarText(try f.required("link"), "projection.link").trimmingCharacters(in: .whitespaces)
            guard let speed = LinkSpeed.bytesPerSecond(link) else {
                throw fail(f.line("link"), "cannot read link speed '\(link)': use e.g. 1Gbit/s, 100Mb/s or 200MB/s (b bits, B bytes)")
            }
            return .init(productionBytes: size, link: link, linkBytesPerSecond: speed)
        }

        package func step(_ node: Node) throws -> Scenario.StepEntry {
            let kinds = ["workload", "snapshot", "snapshot_schedule", "replicate", "wait", "disaster", "restore", "verify"]
            if node.scalar?.string == "snapshot" {
                return .init(step: .snapshot, line: YAMLDocument.line(node))
            }
            if node.scalar?.string == "replicate" {
                return .init(step: .replicate(.init()), line: YAMLDocument.line(node))
            }
            guard let mapping = node.mapping, mapping.count == 1, let e = try document.entries(mapping).first else {
                throw fail(node, "each step is one of \(kinds.map { "'\($0): …'" }.joined(separator: ", "))")
            }
            guard kinds.contains(e.key) else {
                let hint = YAMLDocument.closest(e.key, kinds).map { " (did you mean '\($0)'?)" } ?? ""
                throw fail(e.keyNode, "unknown step '\(e.key)'\(hint); steps are: \(kinds.joined(separator: ", "))")
            }
            let v = e.value
            let step: Scenario.Step
            switch e.key {
            case "workload":
                let f = try fields(v, "workload", allowed: ["rate"])
                let rate = try number(try f.required("rate"), "workload.rate", unitSuffix: "/s")
                guard rate > 0, rate <= 10_000 else { throw fail(f.line("rate"), "workload.rate must be between 0 and 10000 commits per second") }
                step = .workload(rate: rate)
            case "snapshot":
                if let m = v.mapping, !m.isEmpty { throw fail(v, "snapshot takes no options: write '- snapshot'") }
                step = .snapshot
            case "snapshot_schedule":
                let f = try fields(v, "snapshot_schedule", allowed: ["every"])
                let every = try duration(try f.required("every"))
                guard every >= 0.05 else { throw fail(f.line("every"), "snapshot_schedule.every must be at least 50ms") }
                step = .snapshotSchedule(every: every)
            case "replicate":
                step = .replicate(try replicate(v))
            case "wait":
                step = .wait(try duration(v))
            case "disaster":
                step = .disaster(try disaster(v))
            case "restore":
                step = .restore(try restore(v))
            default:
                step = .verify(try verify(v))
            }
            return .init(step: step, line: YAMLDocument.line(e.keyNode))
        }

        /// `replicate: {interval: 1s, snapshot_interval: 0}` (both optional).
        package func replicate(_ node: Node) throws -> Scenario.Replicate {
            var r = Scenario.Replicate()
            if let m = node.mapping, m.isEmpty { return r }
            if node.scalar?.string == "" { return r }
            let f = try fields(node, "replicate", allowed: ["interval", "snapshot_interval"])
            if let i = try f.optional("interval") {
                r.interval = try duration(i)
                guard r.interval >= 0.05 else { throw fail(f.line("interval"), "replicate.interval must be at least 50ms") }
            }
            if let s = try f.optional("snapshot_interval") {
                r.snapshotInterval = try duration(s)
                guard r.snapshotInterval == 0 || r.snapshotInterval >= 0.5 else {
                    throw fail(f.line("snapshot_interval"), "replicate.snapshot_interval must be 0 (only the lineage's first snapshot) or at least 500ms")
                }
            }
            return r
        }

        package func disaster(_ node: Node) throws -> Scenario.Disaster {
            let kinds = Scenario.DisasterKind.allCases.map(\.rawValue)
            var kindNode = node
            var f: Fields?
            if node.mapping != nil {
                let ff = try fields(node, "disaster", allowed: ["kind", "repository", "pages", "statement", "noticed_after", "seed", "strike"])
                kindNode = try ff.required("kind")
                f = ff
            }
            guard let k = kindNode.scalar?.string, let kind = Scenario.DisasterKind(rawValue: k) else {
                throw fail(kindNode, "disaster kind must be one of: \(kinds.joined(separator: ", "))")
            }
            let pages = try f?.optionalInt("pages") ?? 8
            guard pages >= 1 else { throw fail(f?.line("pages") ?? YAMLDocument.line(node), "pages must be at least 1") }
            let statement = try f?.optionalText("statement")
            if kind == .destructiveStatement && (statement ?? "").isEmpty {
                throw fail(kindNode, "a destructive-statement disaster needs 'statement:', e.g. statement: DELETE FROM tasks")
            }
            if kind != .destructiveStatement, let f, f.has("statement") {
                throw fail(f.line("statement"), "'statement' applies to destructive-statement disasters only")
            }
            let noticed = try f?.optional("noticed_after").map { try duration($0) } ?? 0
            if kind != .destructiveStatement && noticed > 0, let f {
                throw fail(f.line("noticed_after"), "'noticed_after' applies to destructive-statement disasters only (other disasters are noticed at once)")
            }
            var strike = "at-once"
            var points: Scenario.StrikePoints?
            if let f, let node = try f.optional("strike") {
                points = try strikePoints(node, seed: UInt64(try f.optionalInt("seed") ?? 1))
                if points == nil { strike = try f.text("strike") }
            }
            guard ["at-once", "during-snapshot"].contains(strike) else {
                throw fail(f?.line("strike") ?? YAMLDocument.line(node), "strike must be at-once, during-snapshot, random, {random: N, seed: S} or a list of offsets such as [100ms, 500ms]")
            }
            if kind == .destructiveStatement && (strike == "during-snapshot" || points != nil), let f {
                throw fail(f.line("strike"), "'strike: \(strike == "during-snapshot" ? "during-snapshot" : "random or offsets")' does not apply to destructive-statement disasters (snapshots go on until the mistake is noticed)")
            }
            return .init(kind: kind, repository: try f?.optionalText("repository"), pages: pages, statement: statement,
                         noticedAfter: noticed, seed: UInt64(try f?.optionalInt("seed") ?? 1), duringSnapshot: strike == "during-snapshot",
                         strikePoints: points)
        }

        /// `random`, `{random: N, seed: S}` or `[100ms, 600ms]`; nil for the single-strike words.
        package func strikePoints(_ node: Node, seed: UInt64) throws -> Scenario.StrikePoints? {
            if let items = node.sequence {
                guard !items.isEmpty, items.count <= 20 else { throw fail(node, "strike offsets: give 1 to 20 durations, e.g. [100ms, 500ms, 900ms]") }
                return .offsets(try items.map { try duration($0) })
            }
            if node.mapping != nil {
                let f = try fields(node, "strike", allowed: ["random", "seed"])
                let n = try f.optionalInt("random") ?? 3
                guard (1...20).contains(n) else { throw fail(f.line("random"), "strike random: give 1 to 20 points") }
                return .random(count: n, seed: UInt64(try f.optionalInt("seed") ?? Int(seed)))
            }
            if node.scalar?.string == "random" { return .random(count: 3, seed: seed) }
            return nil
        }

        package func restore(_ node: Node) throws -> Scenario.Restore {
            var snapshotText = "latest"
            var from: String?
            if let s = node.scalar?.string {
                snapshotText = s.isEmpty ? "latest" : s
            } else {
                let f = try fields(node, "restore", allowed: ["snapshot", "from"])
                snapshotText = try f.optionalText("snapshot") ?? "latest"
                from = try f.optionalText("from")
            }
            let choice: Scenario.SnapshotChoice
            switch snapshotText {
            case "latest": choice = .latest
            case "before-disaster": choice = .beforeDisaster
            default:
                guard snapshotText.count >= 4, snapshotText.allSatisfy(\.isHexDigit) else {
                    throw fail(node, "restore snapshot must be latest, before-disaster or a snapshot id, not '\(snapshotText)'")
                }
                choice = .id(snapshotText.lowercased())
            }
            return .init(snapshot: choice, from: from)
        }

        package func verify(_ node: Node) throws -> Scenario.Verify {
            let f = try fields(node, "verify", allowed: ["markers", "queries"])
            var markers: Bool?
            if let m = try f.optional("markers") { markers = try bool(m, "verify.markers") }
            var queries: [Scenario.Query] = []
            if let q = try f.optional("queries") {
                guard let items = q.sequence else {
                    throw fail(q, "verify.queries must be a list of '- {name: …, sql: …, expect: …}'")
                }
                for item in items {
                    let qf = try fields(item, "a verification query", allowed: ["name", "sql", "expect"])
                    let sql = try qf.text("sql").trimmingCharacters(in: .whitespacesAndNewlines)
                    let name = try qf.optionalText("name") ?? String(sql.prefix(60))
                    queries.append(.init(name: name, sql: sql, expect: try expectation(try qf.required("expect")), line: YAMLDocument.line(item)))
                }
            }
            return .init(markers: markers, queries: queries)
        }

        package func expectation(_ node: Node) throws -> Scenario.Expectation {
            guard let scalar = node.scalar else {
                throw fail(node, "expect must be a number, a comparison such as '>= 100', before-disaster, or a quoted text")
            }
            let raw = scalar.string, quoted = scalar.style != .plain
            let s = raw.trimmingCharacters(in: .whitespaces)
            if !quoted && s == "before-disaster" { return .beforeDisaster }
            if let v = Double(s) { return .compare("=", v) }
            for op in [">=", "<=", "!=", "=", ">", "<"] where s.hasPrefix(op) {
                let rest = s.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
                guard let v = Double(rest) else { throw fail(node, "expect '\(s)': a comparison needs a number after '\(op)'") }
                return .compare(op, v)
            }
            guard quoted else {
                throw fail(node, "expect '\(s)' is neither a number, a comparison such as '>= 100', nor before-disaster; quote it to compare text")
            }
            return .text(raw)
        }

        // MARK: scalars

        package func scalarText(_ node: Node, _ what: String) throws -> String {
            guard let s = node.scalar?.string else { throw fail(node, "\(what) must be a single value, not \(Self.kindName(node))") }
            return s
        }

        package func duration(_ node: Node) throws -> Double {
            let s = try scalarText(node, "a duration")
            do { return try Units.parseDuration(s) } catch {
                throw fail(node, "cannot read duration '\(s)': use e.g. 500ms, 5s, 2m, 1h30m")
            }
        }

        package func bytes(_ node: Node) throws -> Int {
            let s = try scalarText(node, "a size")
            do { return try Units.parseBytes(s) } catch {
                throw fail(node, "cannot read size '\(s)': use e.g. 4MiB or 1GiB")
            }
        }

        package func number(_ node: Node, _ what: String, unitSuffix: String) throws -> Double {
            var s = try scalarText(node, what).trimmingCharacters(in: .whitespaces)
            if s.hasSuffix(unitSuffix) { s = String(s.dropLast(unitSuffix.count)).trimmingCharacters(in: .whitespaces) }
            guard let v = Double(s) else { throw fail(node, "\(what) must be a number, not '\(s)'") }
            return v
        }

        package func bool(_ node: Node, _ what: String) throws -> Bool {
            switch try scalarText(node, what).lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            case let s: throw fail(node, "\(what) must be true or false, not '\(s)'")
            }
        }

        // MARK: whole-scenario rules

        /// A replicate step follows the drill's own WAL database into scratch repositories, once.
        package func checkReplicate(_ s: Scenario, line: Int) throws {
            let count = s.steps.filter { if case .replicate = $0.step { return true }; return false }.count
            guard count == 1 else { throw fail(line, "a scenario has at most one replicate step (found \(count))") }
            guard s.source.isDrillOwned else {
                throw fail(line, "replicate holds read marks on the database and may restart its WAL, so it needs source generate or copy; a live database is never touched by a drill")
            }
            if case .generate(_, _, let journal) = s.source.origin, journal != .wal {
                throw fail(line, "replicate follows the WAL: give the source journal: wal")
            }
            guard !s.snapshotRepositories.isEmpty else {
                throw fail(line, "replicate writes only to scratch repositories (location: scratch); the drill never writes to an existing repository")
            }
        }

        package func check(_ s: inout Scenario, stepsLine: Int) throws {
            let disasters = s.steps.filter { if case .disaster = $0.step { return true }; return false }
            let restores = s.steps.filter { if case .restore = $0.step { return true }; return false }
            guard disasters.count == 1, let disasterStep = disasters.first, case .disaster(let disaster) = disasterStep.step else {
                throw fail(disasters.dropFirst().first?.line ?? stepsLine, "a scenario has exactly one disaster step (found \(disasters.count))")
            }
            guard restores.count == 1, let restoreStep = restores.first, case .restore(let restore) = restoreStep.step else {
                throw fail(restores.dropFirst().first?.line ?? stepsLine, "a scenario has exactly one restore step (found \(restores.count))")
            }
            let names = Set(s.repositories.map(\.name))
            var seenDisaster = false, seenRestore = false
            for entry in s.steps {
                switch entry.step {
                case .disaster: seenDisaster = true
                case .restore:
                    guard seenDisaster else { throw fail(entry.line, "the restore step must come after the disaster") }
                    seenRestore = true
                case .verify:
                    guard seenRestore else { throw fail(entry.line, "verify must come after the restore") }
                case .workload, .snapshot, .snapshotSchedule, .replicate, .wait:
                    guard !seenDisaster else {
                        throw fail(entry.line, "\(entry.step.name) must come before the disaster (after it come restore and verify)")
                    }
                }
                switch entry.step {
                case .workload:
                    guard s.source.isDrillOwned else {
                        throw fail(entry.line, "a workload writes to the database, so it needs source generate or copy; a live database is never written by a drill")
                    }
                case .snapshot, .snapshotSchedule:
                    guard !s.snapshotRepositories.isEmpty else {
                        throw fail(entry.line, "snapshots are written only to scratch repositories (location: scratch); the drill never writes to an existing repository")
                    }
                case .replicate:
                    try checkReplicate(s, line: entry.line)
                default: break
                }
            }
            if !s.source.isDrillOwned && [.corruptPages, .destructiveStatement, .ransomware].contains(disaster.kind) {
                throw fail(disasterStep.line, "a \(disaster.kind.rawValue) disaster damages the database, so it needs source generate or copy; with a live database use delete-database or repository-lost (simulated: nothing is touched)")
            }
            if let points = disaster.strikePoints {
                guard let every = s.snapshotEvery else {
                    throw fail(disasterStep.line, "strike points are points of the snapshot cycle: add a snapshot_schedule step before the disaster")
                }
                if case .offsets(let o) = points, let bad = o.first(where: { $0 < 0 || $0 >= every }) {
                    throw fail(disasterStep.line, "strike offset \(DrillFormat.seconds(bad)) is outside the snapshot cycle: give offsets from 0 to under the snapshot_schedule interval (\(DrillFormat.seconds(every)))")
                }
            }
            if let r = disaster.repository, !names.contains(r) {
                throw fail(disasterStep.line, "disaster repository '\(r)' is not one of the scenario's repositories (\(names.sorted().joined(separator: ", ")))")
            }
            if let r = restore.from, !names.contains(r) {
                throw fail(restoreStep.line, "restore from '\(r)' is not one of the scenario's repositories (\(names.sorted().joined(separator: ", ")))")
            }
            if !s.source.isDrillOwned || s.snapshotRepositories.isEmpty {
                // Nothing to snapshot into: the restore must find existing snapshots of the source.
                if s.steps.contains(where: { if case .workload = $0.step { return true }; return false }) {
                    throw fail(stepsLine, "a workload needs a scratch repository to snapshot it into")
                }
            }
        }
    }

    /// A mapping's entries, looked up by key.
    package struct Fields {
        package let document: YAMLDocument
        package let node: Node
        package let entries: [(key: String, keyNode: Node, value: Node)]
        package let what: String

        package func has(_ key: String) -> Bool { entries.contains { $0.key == key } }
        package func line(_ key: String) -> Int { YAMLDocument.line(entries.first { $0.key == key }?.keyNode ?? node) }

        package func optional(_ key: String) throws -> Node? { entries.first { $0.key == key }?.value }

        package func required(_ key: String) throws -> Node {
            guard let v = entries.first(where: { $0.key == key })?.value else {
                throw document.error(node, "\(what) needs '\(key):'")
            }
            return v
        }

        package func text(_ key: String) throws -> String {
            guard let s = try required(key).scalar?.string, !s.isEmpty else {
                throw document.error(line: line(key), "'\(key)' in \(what) must be a non-empty value")
            }
            return s
        }

        package func optionalText(_ key: String) throws -> String? {
            guard has(key) else { return nil }
            return try text(key)
        }

        package func optionalInt(_ key: String) throws -> Int? {
            guard let s = try optionalText(key) else { return nil }
            guard let n = Int(s), n >= 0 else { throw document.error(line: line(key), "'\(key)' must be a whole number, not '\(s)'") }
            return n
        }
    }
}
