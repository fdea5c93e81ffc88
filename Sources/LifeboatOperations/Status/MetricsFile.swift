import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Prometheus metrics in node_exporter's textfile format.
///
/// One file serves every source: a run updates its own samples and keeps the others' (a
/// snapshot of one source must not erase what the last run of another reported). The file is
/// replaced atomically (written beside it under a name not ending in .prom, then renamed), as
/// the textfile collector requires, so a scrape never sees half a file.
public struct MetricsFile: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [(String, String)]
        public var value: Double

        public init(_ name: String, _ labels: [(String, String)], _ value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }

        public static func == (a: Sample, b: Sample) -> Bool {
            a.name == b.name && a.value == b.value && a.labels.elementsEqual(b.labels, by: { $0 == $1 })
        }

        package var seriesKey: String {
            let l = labels.map { "\($0.0)=\"\(MetricsFile.escape($0.1))\"" }.joined(separator: ",")
            return labels.isEmpty ? name : "\(name){\(l)}"
        }
    }

    /// Help text of every metric Lifeboat writes.
    public static let help: [String: String] = [
        "lifeboat_last_success_timestamp_seconds": "Capture time of the newest successful snapshot of the source (Unix seconds).",
        "lifeboat_last_run_timestamp_seconds": "When the last snapshot run of the source ended (Unix seconds).",
        "lifeboat_last_run_success": "1 if the last snapshot run of the source succeeded, 0 if it failed.",
        "lifeboat_last_duration_seconds": "Wall time of the last successful snapshot of the source.",
        "lifeboat_last_bytes_added": "Bytes the last successful snapshot of the source added to the repository.",
        "lifeboat_snapshot_age_seconds": "Age of the newest snapshot of the source when the file was written.",
        "lifeboat_rpo_target_seconds": "RPO target of the source.",
        "lifeboat_rpo_breached": "1 if the newest snapshot of the source is older than its RPO target.",
        "lifeboat_replica_in_step": "1 if the repository has the newest snapshot of every source the primary has.",
        "lifeboat_newest_snapshot_verified": "1 if lifeboat verify passed on the newest snapshot of the source, 0 if it has not run, -1 if it failed.",
        "lifeboat_verify_overdue": "1 if the newest snapshot of the source is unverified for longer than its verify_within.",
        "lifeboat_replication_lag_seconds": "Seconds since the newest transaction every replica stores, while newer committed ones wait (0 when none wait).",
        "lifeboat_replication_lag_bytes": "Bytes committed in the source's WAL and not shipped by replicate yet.",
        "lifeboat_replication_last_shipped_timestamp_seconds": "When replicate saw the newest transaction of the source the primary stores.",
        "lifeboat_replication_pending_bytes": "Bytes of committed transactions read from the WAL and not yet sealed into a segment.",
        "lifeboat_replication_transactions_total": "Transactions replicate has read from the source's WAL since it started.",
        "lifeboat_replication_sequence": "Sequence number of the newest transaction read, in its lineage.",
        "lifeboat_replication_stored_timestamp_seconds": "Commit time (as seen by replicate) of the newest transaction the replica stores.",
        "lifeboat_replication_replica_failing": "1 while writes of the source's segments to the replica fail (retried).",
        "lifeboat_drill_last_timestamp_seconds": "When the last drill of the scenario finished (Unix seconds).",
        "lifeboat_drill_last_result": "Outcome of the last drill of the scenario: 1 passed, 0 a target missed, -1 the drill did not complete.",
        "lifeboat_drill_last_rto_seconds": "RTO the last drill of the scenario achieved (NaN: not recovered).",
        "lifeboat_drill_last_rpo_seconds": "RPO the last drill of the scenario achieved (NaN: not measured).",
        "lifeboat_drill_rto_target_seconds": "RTO target of the scenario.",
        "lifeboat_drill_rpo_target_seconds": "RPO target of the scenario.",
        "lifeboat_drill_age_seconds": "Seconds since the newest passed drill of the source began, when status ran (NaN: none recorded).",
        "lifeboat_drill_overdue": "1 if the source has no passed drill within its drill_within.",
        "lifeboat_fleet_snapshot_age_seconds": "Age of the newest snapshot of each source of each repository found by status --all.",
        "lifeboat_fleet_rpo_breached": "1 if the newest snapshot of the source is older than its RPO target (status --all).",
        "lifeboat_fleet_newest_snapshot_verified": "1 if lifeboat verify passed on the newest snapshot of the source, 0 if it has not run, -1 if it failed (status --all).",
        "lifeboat_fleet_drill_age_seconds": "Seconds since the newest passed drill of the source recorded in the repository's audit trail (status --all; absent: none).",
        "lifeboat_fleet_drill_overdue": "1 if the source has a drill_within and no passed drill within it in the repository's audit trail (status --all).",
        "lifeboat_fleet_replicas_in_step": "1 if every copy of the repository (same id) found by status --all holds the newest snapshot of the source any copy holds, 0 if not; absent with a single copy.",
        "lifeboat_fleet_repository_readable": "1 if status --all could open and read the repository, 0 if not.",
    ]

    /// The families `status --all` owns: each run replaces all of their series, so a
    /// repository or source that is gone stops being reported.
    public static let fleetFamilies: Set<String> = ["lifeboat_fleet_snapshot_age_seconds", "lifeboat_fleet_rpo_breached",
                                                    "lifeboat_fleet_newest_snapshot_verified", "lifeboat_fleet_repository_readable",
                                                    "lifeboat_fleet_drill_age_seconds", "lifeboat_fleet_drill_overdue",
                                                    "lifeboat_fleet_replicas_in_step"]

    public let path: String

    public init(path: String) { self.path = path }

    package static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Series currently in the file, by series key ("name{labels}") → the full line.
    package func existing() -> [(key: String, name: String, line: String)] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { raw in
            let line = String(raw)
            guard line.hasPrefix("lifeboat_"), let space = line.lastIndex(of: " ") else { return nil }
            let key = String(line[..<space])
            let name = String(key.prefix { $0 != "{" })
            return (key, name, line)
        }
    }

    /// Replaces the given series and keeps every other series already in the file, except
    /// those of the families in `replacing`, which only `samples` then speak for.
    public func update(_ samples: [Sample], replacing families: Set<String> = []) throws {
        var lines: [String: (name: String, line: String)] = [:]
        for e in existing() where !families.contains(e.name) { lines[e.key] = (e.name, e.line) }
        for s in samples { lines[s.seriesKey] = (s.name, "\(s.seriesKey) \(Self.format(s.value))") }
        var out = ""
        let byName = Dictionary(grouping: lines.values, by: \.name)
        for name in byName.keys.sorted() {
            if let h = Self.help[name] { out += "# HELP \(name) \(h)\n" }
            out += "# TYPE \(name) gauge\n"
            for l in (byName[name] ?? []).map(\.line).sorted() { out += l + "\n" }
        }
        try Self.writeAtomically(out, to: path)
    }

    package static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.3f", v)
    }

    package static func writeAtomically(_ text: String, to path: String) throws {
        let tmp = path + ".\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot write metrics file", path: tmp) }
        do {
            defer { close(fd) }
            try FileIO.writeAll(fd: fd, Array(text.utf8), path: tmp)
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw LifeboatError.posix(e, "cannot replace metrics file", path: path)
        }
    }
}

extension MetricsFile {
    /// Samples for one snapshot run of a source.
    public static func snapshotRun(source: String, endedAt: Date, success: Bool, result: SnapshotResult?, rpo: Double?) -> [Sample] {
        let l = [("source", source)]
        var s = [Sample("lifeboat_last_run_timestamp_seconds", l, endedAt.timeIntervalSince1970.rounded()),
                 Sample("lifeboat_last_run_success", l, success ? 1 : 0)]
        if let r = result, let t = RFC3339.parse(r.time) {
            s += [Sample("lifeboat_last_success_timestamp_seconds", l, (t.timeIntervalSince1970 * 1000).rounded() / 1000),
                  Sample("lifeboat_last_duration_seconds", l, r.seconds),
                  Sample("lifeboat_last_bytes_added", l, Double(r.bytesAdded)),
                  Sample("lifeboat_snapshot_age_seconds", l, max(0, endedAt.timeIntervalSince(t))),
                  Sample("lifeboat_rpo_breached", l, 0)]
        }
        if let rpo { s.append(Sample("lifeboat_rpo_target_seconds", l, rpo)) }
        return s
    }

    /// Samples for a status report.
    public static func status(_ report: StatusReport) -> [Sample] {
        var s: [Sample] = []
        for src in report.sources {
            let l = [("source", src.source)]
            if let t = src.lastTime.flatMap(RFC3339.parse) {
                s.append(Sample("lifeboat_last_success_timestamp_seconds", l, t.timeIntervalSince1970))
            }
            if let age = src.ageSeconds { s.append(Sample("lifeboat_snapshot_age_seconds", l, age.rounded())) }
            if let rpo = src.rpoSeconds { s.append(Sample("lifeboat_rpo_target_seconds", l, rpo)) }
            s.append(Sample("lifeboat_rpo_breached", l, src.rpoBreached ? 1 : 0))
            if let r = src.replication {
                if let lag = r.lagSeconds { s.append(Sample("lifeboat_replication_lag_seconds", l, lag)) }
                if let bytes = r.lagBytes { s.append(Sample("lifeboat_replication_lag_bytes", l, Double(bytes))) }
                if let t = RFC3339.parse(r.lastShipped) { s.append(Sample("lifeboat_replication_last_shipped_timestamp_seconds", l, t.timeIntervalSince1970)) }
            }
            // 1 passed, 0 not verified yet, -1 failed: an alert on < 0 is an alert on damage.
            if let v = src.verification {
                s.append(Sample("lifeboat_newest_snapshot_verified", l, v == "passed" ? 1 : v == "failed" ? -1 : 0))
                s.append(Sample("lifeboat_verify_overdue", l, src.verifyOverdue ? 1 : 0))
            }
        }
        for r in report.repositories {
            s.append(Sample("lifeboat_replica_in_step", [("repository", r.location)], r.inStep ? 1 : 0))
        }
        return s
    }
}

extension MetricsFile {
    /// Samples for `status --all`: one series per source, labelled with its repository, the
    /// host that wrote its newest snapshot and its name; one per repository for readability.
    public static func fleet(_ report: FleetReport) -> [Sample] {
        var s: [Sample] = []
        var readable: [String: Bool] = [:]
        for row in report.rows {
            readable[row.repository] = (readable[row.repository] ?? true) && row.error == nil
            guard let source = row.source else { continue }
            let l = [("repository", row.repository), ("host", row.host ?? ""), ("source", source)]
            if let age = row.ageSeconds { s.append(Sample("lifeboat_fleet_snapshot_age_seconds", l, age.rounded())) }
            s.append(Sample("lifeboat_fleet_rpo_breached", l, row.rpoBreached ? 1 : 0))
            if let v = row.verification {
                s.append(Sample("lifeboat_fleet_newest_snapshot_verified", l, v == "passed" ? 1 : v == "failed" ? -1 : 0))
            }
            if let age = row.drillAgeSeconds { s.append(Sample("lifeboat_fleet_drill_age_seconds", l, age.rounded())) }
            if row.drillWithinSeconds != nil { s.append(Sample("lifeboat_fleet_drill_overdue", l, row.drillOverdue ? 1 : 0)) }
            if let inStep = row.replicasInStep { s.append(Sample("lifeboat_fleet_replicas_in_step", l, inStep ? 1 : 0)) }
        }
        for (repository, ok) in readable.sorted(by: { $0.key < $1.key }) {
            s.append(Sample("lifeboat_fleet_repository_readable", [("repository", repository)], ok ? 1 : 0))
        }
        return s
    }
}
