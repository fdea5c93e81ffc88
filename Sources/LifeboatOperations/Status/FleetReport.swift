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
        /// Why the repository could not be read (the row then names no source).
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case repository, host, source, snapshots, lastSnapshot, lastTime, ageSeconds, rpoSeconds, rpoBreached
            case verification, verifyOverdue, lastShippedAt, error
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

        public init(config: LifeboatConfig?, defaultRPO: Double? = nil, defaultVerifyWithin: Double? = nil) {
            self.config = config
            self.defaultRPO = defaultRPO
            self.defaultVerifyWithin = defaultVerifyWithin
        }

        func rpo(_ source: String) -> Double? { config?.rpo(for: source) ?? defaultRPO }
        func verifyWithin(_ source: String) -> Double? { config?.verifyWithin(for: source) ?? defaultVerifyWithin }
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

        let results = Locked<[Int: (rows: [Row], damaged: Bool)]>([:])
        let all = found
        try? Parallel.forEach(count: all.count, workers: max(1, workers)) { _, i in
            let place = all[i]
            let outcome: (rows: [Row], damaged: Bool)
            if let problem = place.problem {
                outcome = ([Row.failed(place.location, problem)], false)
            } else {
                do {
                    outcome = (try read(place.location, options: options, passphrase: passphrase, targets: targets, only: source, now: now), false)
                } catch let e as LifeboatError {
                    outcome = ([Row.failed(place.location, e)], e.kind == .corrupt)
                } catch {
                    outcome = ([Row.failed(place.location, LifeboatError(.io, "cannot read \(place.location): \(error)"))], false)
                }
            }
            results.withLock { $0[i] = outcome }
        }
        let done = results.current
        let ordered = (0..<all.count).map { i in
            done[i] ?? ([Row.failed(all[i].location, LifeboatError(.internalError, "\(all[i].location) was not read"))], false)
        }
        let rows = ordered.flatMap(\.rows)
        return FleetReport(time: RFC3339.format(now), repositories: all.count, rows: rows,
                           rpoBreached: rows.contains { $0.rpoBreached },
                           verificationFailed: rows.contains { $0.verification == "failed" },
                           verifyOverdue: rows.contains { $0.verifyOverdue },
                           unreadable: rows.filter { $0.error != nil }.count,
                           damaged: zip(all, ordered).filter { $0.1.damaged }.map(\.0.location),
                           seconds: Date().timeIntervalSince(started))
    }

    /// One repository's rows: one per source, the newest snapshot of each. Every manifest is
    /// read (a manifest's name is the hash of its sealed bytes: only its content says which
    /// source it belongs to and when it was taken), and every attestation once.
    static func read(_ location: String, options: BackendOptions, passphrase: SecretBytes, targets: Targets,
                     only source: String?, now: Date) throws -> [Row] {
        let repository = try Repository.open(backend: try openBackend(location: location, options: options), passphrase: passphrase)
        // Manifests in parallel too, as many as the store likes in flight (one on a local disk):
        // one repository may hold the sources of many hosts.
        let records = try repository.listSnapshots(source: source, workers: repository.backend.preferredConcurrency)
        let bySource = Dictionary(grouping: records, by: { $0.manifest.source })
        guard !bySource.isEmpty else {
            return [Row(repository: location, host: nil, source: nil, snapshots: 0, lastSnapshot: nil, lastTime: nil, ageSeconds: nil,
                        rpoSeconds: nil, rpoBreached: false, verification: nil, verifyOverdue: false, lastShippedAt: nil,
                        error: nil)]
        }
        let attestations = try repository.listAttestations(damaged: { _, _ in })
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
            rows.append(Row(repository: location, host: last.manifest.host, source: name, snapshots: list.count,
                            lastSnapshot: last.id, lastTime: RFC3339.format(last.manifest.time), ageSeconds: age,
                            rpoSeconds: rpo, rpoBreached: rpo.map { age > $0 } ?? false,
                            verification: verified?.outcome.rawValue ?? "unverified",
                            verifyOverdue: verified == nil && within.map { age > $0 } ?? false,
                            lastShippedAt: lastShipped.map { RFC3339.format($0, fractional: true) }, error: nil))
        }
        return rows
    }
}
