import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// `lifeboat status`: per source, how old the newest snapshot is against its RPO target, and
/// per repository, whether each replica has what the primary has.
public struct StatusReport: Codable, Sendable {
    public struct SourceStatus: Codable, Sendable {
        public var source: String
        public var configured: Bool
        public var snapshots: Int
        public var lastSnapshot: String?
        public var lastTime: String?
        public var ageSeconds: Double?
        public var rpoSeconds: Double?
        public var rpoBreached: Bool
        public var lastBytesAdded: Int?
        /// The source's drills (`DrillStatus`); nil when no drill history was read.
        public var drill: DrillStatus.OfSource? = nil
        /// The newest snapshot's `lifeboat verify`: "passed", "failed" or "unverified" (nil: no snapshot).
        public var verification: String?
        /// Since when the newest snapshot has waited for a verification (seconds; nil once verified).
        public var unverifiedSeconds: Double?
        public var verifyWithinSeconds: Double?
        /// The newest snapshot stayed unverified past the source's `verify_within`.
        public var verifyOverdue: Bool = false
        /// Continuous replication of the source (nil: `replicate` never ran for it). With it,
        /// the RPO is judged on the replication lag, not on the snapshot's age.
        public var replication: ReplicationStatus? = nil
    }

    public struct RepositoryStatus: Codable, Sendable {
        public var location: String
        public var primary: Bool
        public var reachable: Bool
        public var inStep: Bool
        public var snapshots: Int
        /// Sources whose newest snapshot on the primary is missing here.
        public var behind: [String]
        public var problem: String?
    }

    public var time: String
    public var sources: [SourceStatus]
    public var repositories: [RepositoryStatus]
    public var rpoBreached: Bool
    public var replicasBehind: Bool
    /// The drill history `status` read (`DrillStatus`); nil when none was.
    public var drill: DrillStatus.Summary? = nil
    /// Some source's newest snapshot failed `lifeboat verify`.
    public var verificationFailed: Bool = false
    public var verifyOverdue: Bool = false



    public var ok: Bool { !rpoBreached && !replicasBehind && !verificationFailed && !verifyOverdue && !(drill?.overdue ?? false) }

    /// Builds the report. `replicas` are opened by the caller (a replica that cannot be opened
    /// is passed as an error, and reported as unreachable).
    public static func build(primary: Repository, replicas: [(location: String, repository: Result<Repository, LifeboatError>)],
                             config: LifeboatConfig?, only source: String? = nil, now: Date = Date()) throws -> StatusReport {
        let records = try primary.listSnapshots(source: source)
        let bySource = Dictionary(grouping: records, by: { $0.manifest.source })
        var names = Set(bySource.keys)
        for s in config?.sources ?? [] where source == nil || s.name == source { names.insert(s.name) }

        let attestations = try primary.listAttestations(damaged: { _, _ in })
        var sources: [SourceStatus] = []
        for name in names.sorted() {
            let list = bySource[name] ?? []
            let last = list.last
            let age = last.map { now.timeIntervalSince($0.manifest.time) }
            let rpo = config?.rpo(for: name)
            let replication = try ReplicationStatus.build(primary: primary, replicas: replicas, source: name,
                                                          databasePath: config?.source(named: name)?.path, snapshots: list, now: now)
            // What could be lost now: the lag behind the WAL, else (database elsewhere) the age of
            // the newest shipped transaction or snapshot.
            let exposure = replication.map { r in r.lagSeconds ?? min(r.lastShippedAgeSeconds, age ?? .infinity) } ?? age
            // A configured source that was never backed up breaches any target it has.
            let breached = rpo.map { limit in exposure.map { $0 > limit } ?? true } ?? false
            var status = SourceStatus(source: name, configured: config?.source(named: name) != nil, snapshots: list.count,
                                      lastSnapshot: last?.id, lastTime: last.map { RFC3339.format($0.manifest.time) },
                                      ageSeconds: age, rpoSeconds: rpo, rpoBreached: breached,
                                      lastBytesAdded: last?.manifest.bytesAdded)
            status.replication = replication
            if let last, let age {
                let verified = try primary.attestation(for: last, among: attestations)
                let within = config?.verifyWithin(for: name)
                status.verification = verified?.outcome.rawValue ?? "unverified"
                status.unverifiedSeconds = verified == nil ? age : nil
                status.verifyWithinSeconds = within
                status.verifyOverdue = verified == nil && within.map { age > $0 } ?? false
            }
            sources.append(status)
        }

        var repos = [RepositoryStatus(location: primary.backend.location, primary: true, reachable: true, inStep: true,
                                snapshots: records.count, behind: [], problem: nil)]
        for (location, result) in replicas {
            switch result {
            case .failure(let e):
                repos.append(RepositoryStatus(location: location, primary: false, reachable: false, inStep: false,
                                        snapshots: 0, behind: [], problem: e.message))
            case .success(let replica):
                do {
                    let theirs = try replica.listSnapshots(source: source)
                    // Same snapshot = same source, capture time and image (ids may differ if a
                    // replica was filled by a separate run).
                    let have = Set(theirs.map { "\($0.manifest.source)\u{0}\($0.manifest.timeMs)\u{0}\($0.manifest.imageDigest)" })
                    let behind = bySource.keys.sorted().filter { name in
                        guard let m = bySource[name]?.last?.manifest else { return false }
                        return !have.contains("\(m.source)\u{0}\(m.timeMs)\u{0}\(m.imageDigest)")
                    }
                    repos.append(RepositoryStatus(location: location, primary: false, reachable: true, inStep: behind.isEmpty,
                                            snapshots: theirs.count, behind: behind, problem: nil))
                } catch let e as LifeboatError {
                    repos.append(RepositoryStatus(location: location, primary: false, reachable: false, inStep: false,
                                            snapshots: 0, behind: [], problem: e.message))
                }
            }
        }
        return StatusReport(time: RFC3339.format(now), sources: sources, repositories: repos,
                            rpoBreached: sources.contains { $0.rpoBreached },
                            replicasBehind: repos.contains { !$0.inStep },
                            verificationFailed: sources.contains { $0.verification == "failed" },
                            verifyOverdue: sources.contains { $0.verifyOverdue })
    }
}
