import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// `lifeboat status --all`: every source of every repository found at or below the given
/// locations (a bucket or prefix per fleet, a prefix per host under it), with the host that
/// wrote its newest snapshot, that snapshot's age against the RPO target, and its
/// verification.
///
/// Reads only: listings, the config, the key files, the manifests and the attestations
/// (GET, LIST and HEAD). No lock, no audit record, no damage record: the restore role's
/// rights, or a read-only mount, suffice. Repositories are read concurrently, `workers` at a
/// time; one that cannot be opened or read is a row that says why, never the end of the run.
public struct FleetReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var repository: String
        /// The host that wrote the source's newest snapshot (its manifest says).
        public var host: String?
        public var source: String?
        public var snapshots: Int
        public var lastSnapshot: String?
        public var lastTime: String?
        /// Age of the newest restorable state: the newest snapshot, or for a source `replicate`
        /// follows the newest shipped transaction when that is newer (what the RPO is judged on).
        public var ageSeconds: Double?
        public var rpoSeconds: Double?
        public var rpoBreached: Bool
        /// "passed", "failed" or "unverified" (nil: no snapshot).
        public var verification: String?
        public var verifyOverdue: Bool
        /// The newest transaction `replicate` shipped to this repository (nil: none).
        public var lastShippedAt: String?
        /// The newest drill of the source recorded in this repository's audit trail: when it was
        /// recorded (RFC 3339) and its outcome (passed, target_missed or failed); nil: none.
        public var lastDrillTime: String? = nil
        public var lastDrillOutcome: String? = nil
        /// The newest passed drill of the source, and its age: what `drill_within` is held against.
        public var lastPassedDrillTime: String? = nil
        public var drillAgeSeconds: Double? = nil
        public var drillWithinSeconds: Double? = nil
        /// A `drill_within` applies and no passed drill of the source is recorded within it.
        public var drillOverdue: Bool = false
        /// Other copies of this repository (same repository id) found under the locations; nil:
        /// this is the only copy, so there is nothing to be in step with.
        public var copies: [String]? = nil
        /// Every copy holds the newest snapshot of this source that any copy holds (same source,
        /// capture time and image digest); nil with a single copy.
        public var replicasInStep: Bool? = nil
        /// The copies (this one included) that lack that newest snapshot.
        public var replicasBehind: [String] = []
        /// Why the repository could not be read (the row then names no source).
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case repository, host, source, snapshots, lastSnapshot, lastTime, ageSeconds, rpoSeconds, rpoBreached
            case verification, verifyOverdue, lastShippedAt, error
            case lastDrillTime, lastDrillOutcome, lastPassedDrillTime, drillAgeSeconds, drillWithinSeconds, drillOverdue
            case copies, replicasInStep, replicasBehind
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(repository, forKey: .repository)
            try c.encode(host, forKey: .host)
            try c.encode(source, forKey: .source)
            try c.encode(snapshots, forKey: .snapshots)
            try c.encode(lastSnapshot, forKey: .lastSnapshot)
            try c.encode(lastTime, forKey: .lastTime)
            try c.encode(ageSeconds, forKey: .ageSeconds)
            try c.encode(rpoSeconds, forKey: .rpoSeconds)
            try c.encode(rpoBreached, forKey: .rpoBreached)
            try c.encode(verification, forKey: .verification)
            try c.encode(verifyOverdue, forKey: .verifyOverdue)
            // Written as null, not left out: consumers can rely on the field being there.
            try c.encode(lastShippedAt, forKey: .lastShippedAt)
            try c.encode(lastDrillTime, forKey: .lastDrillTime)
            try c.encode(lastDrillOutcome, forKey: .lastDrillOutcome)
            try c.encode(lastPassedDrillTime, forKey: .lastPassedDrillTime)
            try c.encode(drillAgeSeconds, forKey: .drillAgeSeconds)
            try c.encode(drillWithinSeconds, forKey: .drillWithinSeconds)
            try c.encode(drillOverdue, forKey: .drillOverdue)
            try c.encode(copies, forKey: .copies)
            try c.encode(replicasInStep, forKey: .replicasInStep)
            try c.encode(replicasBehind, forKey: .replicasBehind)
            try c.encodeIfPresent(error, forKey: .error)
        }

        static func failed(_ repository: String, _ error: LifeboatError) -> Row {
            Row(repository: repository, host: nil, source: nil, snapshots: 0, lastSnapshot: nil, lastTime: nil, ageSeconds: nil,
                rpoSeconds: nil, rpoBreached: false, verification: nil, verifyOverdue: false, lastShippedAt: nil, error: error.message)
        }
    }

    public var time: String
    /// Repositories found (those that could not be read included).
    public var repositories: Int
    public var rows: [Row]
    public var rpoBreached: Bool
    public var verificationFailed: Bool
    public var verifyOverdue: Bool
    /// Some source has no passed drill within its `drill_within`.
    public var drillOverdue: Bool
    /// Some copy of a repository lacks the newest snapshot another copy holds.
    public var replicasBehind: Bool
    /// Repositories (or places under a location) that could not be read.
    public var unreadable: Int
    /// Repositories that could not be read because their data is proven damaged.
    public var damaged: [String]
    public var seconds: Double

    public var sources: Int { rows.filter { $0.source != nil }.count }

    /// What the targets are: the config's (per source, then its defaults), else `defaultRPO`.
    public struct Targets: Sendable {
        public var config: LifeboatConfig?
        public var defaultRPO: Double?
        public var defaultVerifyWithin: Double?
        public var defaultDrillWithin: Double?

        public init(config: LifeboatConfig?, defaultRPO: Double? = nil, defaultVerifyWithin: Double? = nil, defaultDrillWithin: Double? = nil) {
            self.config = config
            self.defaultRPO = defaultRPO
            self.defaultVerifyWithin = defaultVerifyWithin
            self.defaultDrillWithin = defaultDrillWithin
        }

        func rpo(_ source: String) -> Double? { config?.rpo(for: source) ?? defaultRPO }
        func verifyWithin(_ source: String) -> Double? { config?.verifyWithin(for: source) ?? defaultVerifyWithin }
        func drillWithin(_ source: String) -> Double? { config?.drillWithin(for: source) ?? defaultDrillWithin }
        /// Drills are read from the audit trail (a GET for every audit object: the costly part)
        /// only when asked (`--drills`) or when some source has a `drill_within` target.
        public var includeDrills = false
        func wantsDrills<S: Sequence>(_ sources: S) -> Bool where S.Element == String {
            includeDrills || sources.contains { drillWithin($0) != nil }
        }
    }

    public static func build(locations: [String], options: BackendOptions, passphrase: SecretBytes, targets: Targets,
                             only source: String? = nil, workers: Int, depth: Int = 2, now: Date = Date()) -> FleetReport {
        let started = Date()
        var found: [DiscoveredLocation] = []
        for location in locations {
            let here = RepositoryDiscovery.find(under: location, options: options, depth: depth, workers: workers)
            if here.isEmpty {
                found.append(DiscoveredLocation(location: location, problem: LifeboatError(.repositoryMissing,
                    "no Lifeboat repository at or up to \(depth) levels below \(location); check the location")))
            }
            found += here
        }
        // Copies of one place given twice are read once.
        var seen = Set<String>()
        found = found.filter { seen.insert($0.location).inserted }

        let results = Locked<[Int: (rows: [Row], damaged: Bool, copy: Copy?)]>([:])
        let all = found
        try? Parallel.forEach(count: all.count, workers: max(1, workers)) { _, i in
            let place = all[i]
            let outcome: (rows: [Row], damaged: Bool, copy: Copy?)
            if let problem = place.problem {
                outcome = ([Row.failed(place.location, problem)], false, nil)
            } else {
                do {
                    let (rows, copy) = try read(place.location, options: options, passphrase: passphrase, targets: targets, only: source, now: now)
                    outcome = (rows, false, copy)
                } catch let e as LifeboatError {
                    outcome = ([Row.failed(place.location, e)], e.kind == .corrupt, nil)
                } catch {
                    outcome = ([Row.failed(place.location, LifeboatError(.io, "cannot read \(place.location): \(error)"))], false, nil)
                }
            }
            results.withLock { $0[i] = outcome }
        }
        let done = results.current
        let ordered = (0..<all.count).map { i in
            done[i] ?? ([Row.failed(all[i].location, LifeboatError(.internalError, "\(all[i].location) was not read"))], false, nil)
        }
        var rows = ordered.flatMap(\.rows)
        compareCopies(ordered.compactMap(\.copy), rows: &rows)
        return FleetReport(time: RFC3339.format(now), repositories: all.count, rows: rows,
                           rpoBreached: rows.contains { $0.rpoBreached },
                           verificationFailed: rows.contains { $0.verification == "failed" },
                           verifyOverdue: rows.contains { $0.verifyOverdue },
                           drillOverdue: rows.contains { $0.drillOverdue },
                           replicasBehind: rows.contains { $0.replicasInStep == false },
                           unreadable: rows.filter { $0.error != nil }.count,
                           damaged: zip(all, ordered).filter { $0.1.damaged }.map(\.0.location),
                           seconds: Date().timeIntervalSince(started))
    }

    /// What one readable repository holds, to hold copies of it against each other: its id
    /// (the same in every copy made by `init --repo a --repo b`, `sync` or replication) and per
    /// source the snapshots it has and the newest of them.
    struct Copy: Sendable {
        var location: String
        var id: String
        var have: [String: Set<String>]
        var newest: [String: (timeMs: Int64, key: String)]
    }

    /// Same snapshot = same source, capture time and image (ids may differ if a copy was filled
    /// by a separate run), as `status` holds replicas against the primary.
    static func snapshotKey(_ m: Manifest) -> String { "\(m.source)\u{0}\(m.timeMs)\u{0}\(m.imageDigest)" }

    /// Groups the copies of each repository (same id) and marks, per source, the copies that lack
    /// the newest snapshot any copy holds. A single copy is left alone (nil: nothing to compare).
    static func compareCopies(_ copies: [Copy], rows: inout [Row]) {
        for group in Dictionary(grouping: copies, by: \.id).values where group.count > 1 {
            let locations = group.map(\.location).sorted()
            for source in Set(group.flatMap(\.newest.keys)) {
                guard let newest = group.compactMap({ $0.newest[source] }).max(by: { $0.timeMs < $1.timeMs }) else { continue }
                let behind = group.filter { !($0.have[source]?.contains(newest.key) ?? false) }.map(\.location).sorted()
                for i in rows.indices where rows[i].source == source && locations.contains(rows[i].repository) {
                    rows[i].copies = locations.filter { $0 != rows[i].repository }
                    rows[i].replicasInStep = behind.isEmpty
                    rows[i].replicasBehind = behind
                }
            }
        }
    }

    /// The newest drill per source in a repository's audit trail, and the newest passed one.
    /// Audit objects are named by the hash of their sealed bytes, so neither name nor listing
    /// order says which are drills or which are newest: every one is read (one LIST and a GET
    /// each, `workers` in flight). One that fails authentication is skipped (`audit verify`
    /// reports it); one that cannot be read ends the reading, as it proves nothing.
    static func drills(_ repository: Repository, workers: Int) throws -> [String: (last: AuditRecord, lastPassed: AuditRecord?)] {
        let keys = try repository.backend.list(.audit).map(\.key)
        let found = Locked<[Int: AuditRecord]>([:])
        try Parallel.forEach(count: keys.count, workers: max(1, workers)) { _, i in
            let line: [UInt8]
            do { line = try repository.loadObject(keys[i]) } catch let e as LifeboatError where e.provesDamage { return }
            guard let record = try? AuditRecord.decode(line: line), record.operation == "drill", record.source != nil else { return }
            found.withLock { $0[i] = record }
        }
        var out: [String: (last: AuditRecord, lastPassed: AuditRecord?)] = [:]
        let dated = found.current.values.compactMap { r in RFC3339.parse(r.time).map { (record: r, time: $0) } }.sorted { $0.time < $1.time }
        for (record, _) in dated {
            guard let source = record.source else { continue }
            let passed = drillOutcome(record) == "passed" ? record : out[source]?.lastPassed
            out[source] = (record, passed)
        }
        return out
    }

    /// A drill record's outcome: the drill's own (passed, target_missed, failed), else its result.
    static func drillOutcome(_ r: AuditRecord) -> String {
        if let o = r.details["outcome"]?.stringValue { return o }
        switch r.result {
        case .ok: return "passed"
        case .incomplete: return "target_missed"
        case .failed: return "failed"
        }
    }

    /// One repository's rows: one per source, the newest snapshot of each. Every manifest is
    /// read (a manifest's name is the hash of its sealed bytes: only its content says which
    /// source it belongs to and when it was taken), and every attestation and audit object once.
    static func read(_ location: String, options: BackendOptions, passphrase: SecretBytes, targets: Targets,
                     only source: String?, now: Date) throws -> ([Row], Copy) {
        let repository = try Repository.open(backend: try openBackend(location: location, options: options), passphrase: passphrase)
        // Manifests in parallel too, as many as the store likes in flight (one on a local disk):
        // one repository may hold the sources of many hosts.
        let records = try repository.listSnapshots(source: source, workers: repository.backend.preferredConcurrency)
        let bySource = Dictionary(grouping: records, by: { $0.manifest.source })
        var copy = Copy(location: location, id: repository.config.id, have: [:], newest: [:])
        for (name, list) in bySource {
            copy.have[name] = Set(list.map { snapshotKey($0.manifest) })
            if let last = list.last { copy.newest[name] = (last.manifest.timeMs, snapshotKey(last.manifest)) }
        }
        guard !bySource.isEmpty else {
            return ([Row(repository: location, host: nil, source: nil, snapshots: 0, lastSnapshot: nil, lastTime: nil, ageSeconds: nil,
                         rpoSeconds: nil, rpoBreached: false, verification: nil, verifyOverdue: false, lastShippedAt: nil,
                         error: nil)], copy)
        }
        let attestations = try repository.listAttestations(damaged: { _, _ in })
        let drills = targets.wantsDrills(bySource.keys) ? try drills(repository, workers: repository.backend.preferredConcurrency) : [:]
        // `replicate`'s newest shipped transaction per source: one listing, names only.
        var shipped: [String: Int64] = [:]
        for info in try repository.backend.list(.segments) {
            guard let n = SegmentName(info.key.name) else { continue }
            shipped[n.sourceTag] = max(shipped[n.sourceTag] ?? .min, n.lastTimeMs)
        }
        var rows: [Row] = []
        for name in bySource.keys.sorted() {
            let list = bySource[name] ?? []
            guard let last = list.last else { continue }
            let lastShipped = try shipped[repository.segmentTag(source: name)].map { Date(unixMilliseconds: $0) }
            // From afar the WAL cannot be read: what could be lost is bounded by the newest
            // shipped transaction or snapshot, whichever is newer.
            let age = now.timeIntervalSince(max(last.manifest.time, lastShipped ?? .distantPast))
            let rpo = targets.rpo(name)
            let verified = try repository.attestation(for: last, among: attestations)
            let within = targets.verifyWithin(name)
            var row = Row(repository: location, host: last.manifest.host, source: name, snapshots: list.count,
                          lastSnapshot: last.id, lastTime: RFC3339.format(last.manifest.time), ageSeconds: age,
                          rpoSeconds: rpo, rpoBreached: rpo.map { age > $0 } ?? false,
                          verification: verified?.outcome.rawValue ?? "unverified",
                          verifyOverdue: verified == nil && within.map { age > $0 } ?? false,
                          lastShippedAt: lastShipped.map { RFC3339.format($0, fractional: true) }, error: nil)
            // Only a passed drill shows the source can be recovered within its targets: a missed
            // target or a failed drill does not restart the clock (as plain `status`).
            let drill = drills[name]
            row.lastDrillTime = drill.map(\.last.time)
            row.lastDrillOutcome = drill.map { drillOutcome($0.last) }
            let passedAt = drill?.lastPassed.flatMap { RFC3339.parse($0.time) }
            row.lastPassedDrillTime = drill?.lastPassed?.time
            row.drillAgeSeconds = passedAt.map { now.timeIntervalSince($0) }
            if let drillWithin = targets.drillWithin(name) {
                row.drillWithinSeconds = drillWithin
                row.drillOverdue = row.drillAgeSeconds.map { $0 > drillWithin } ?? true
            }
            rows.append(row)
        }
        return (rows, copy)
    }
}
