import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// One disaster-recovery drill, as read from `Scenarios/*.yml`: what is protected, where it is
/// backed up, the targets, and the steps (load, snapshots, a disaster, a restore, checks).
public struct Scenario: Sendable {
    public var name: String
    public var description: String
    /// The file it came from, and the SHA-256 of its bytes (the report names the exact scenario run).
    public var file: String
    public var fileSHA256: String
    public var source: Source
    public var repositories: [RepositorySpec]
    public var targets: Targets
    public var steps: [StepEntry]
    /// `projection:`: the production database's size and the link a real restore would use, for
    /// the report's RTO projection (projected, not measured).
    public var projection: Projection? = nil

    public struct Source: Sendable {
        public enum Origin: Sendable {
            /// A process database the drill generates in its scratch directory.
            case generate(size: Int, seed: UInt64, journal: JournalMode)
            /// A consistent copy of an existing database; the original is only read.
            case copy(String)
            /// An existing database that is never written: only read to measure RPO.
            case live(String)
        }
        public var origin: Origin
        /// Source name in the repositories.
        public var name: String
        /// For databases without drill markers: a query giving the time of the newest
        /// transaction (unix seconds or ms, or a UTC date text), run on the live database and on
        /// the restored copy; the difference is the achieved RPO.
        public var rpoQuery: String?
        public var rpoUnitMilliseconds: Bool

        /// True when the drill works on a database of its own (generated or copied).
        public var isDrillOwned: Bool {
            if case .live = origin { return false }
            return true
        }
    }

    public struct RepositorySpec: Sendable {
        public var name: String
        /// nil: a scratch repository the drill creates and deletes. Otherwise an existing
        /// repository, which the drill only reads.
        public var location: String?
        /// For scratch replicas: the repository whose objects are copied here after each snapshot.
        public var replicaOf: String?
        /// Environment prefix of this repository's passphrase (PREFIX_PASSWORD_FILE, …).
        public var passwordPrefix: String
        public var line: Int
        public var isScratch: Bool { location == nil }
    }

    public struct Targets: Sendable {
        /// Seconds.
        public var rto: Double
        public var rpo: Double
        public var maxLostTransactions: Int?
    }

    public struct Projection: Sendable, Equatable {
        public var productionBytes: Int
        /// As written (`1Gbit/s`), and in bytes per second.
        public var link: String
        public var linkBytesPerSecond: Double
    }

    public struct StepEntry: Sendable {
        public var step: Step
        public var line: Int
    }

    public enum Step: Sendable {
        /// Marker transactions at `rate` per second in the background until the disaster.
        case workload(rate: Double)
        /// One snapshot now, into every scratch primary repository (then replicated).
        case snapshot
        /// A snapshot every `every` seconds in the background until the disaster.
        case snapshotSchedule(every: Double)
        /// Continuous replication (`lifeboat replicate`) of the drill's database into the
        /// scratch repositories, in the background until the disaster cuts it off as a crash.
        case replicate(Replicate)
        case wait(Double)
        case disaster(Disaster)
        case restore(Restore)
        case verify(Verify)

        public var name: String {
            switch self {
            case .workload: return "workload"
            case .snapshot: return "snapshot"
            case .snapshotSchedule: return "snapshot_schedule"
            case .replicate: return "replicate"
            case .wait: return "wait"
            case .disaster: return "disaster"
            case .restore: return "restore"
            case .verify: return "verify"
            }
        }
    }

    public enum DisasterKind: String, Sendable, CaseIterable {
        case deleteDatabase = "delete-database"
        case corruptPages = "corrupt-pages"
        case destructiveStatement = "destructive-statement"
        case repositoryLost = "repository-lost"
        case ransomware

        public var summary: String {
            switch self {
            case .deleteDatabase: return "the database file is deleted"
            case .corruptPages: return "pages of the database file are overwritten with garbage"
            case .destructiveStatement: return "a destructive statement is run by mistake"
            case .repositoryLost: return "the site is lost: the database and the primary repository"
            case .ransomware: return "ransomware encrypts the database and deletes the primary repository's objects"
            }
        }
    }

    public struct Disaster: Sendable {
        public var kind: DisasterKind
        /// The repository lost (repository-lost, ransomware); default: the first one.
        public var repository: String?
        public var pages: Int
        public var statement: String?
        /// Destructive statement: how long load and snapshots go on before someone notices.
        public var noticedAfter: Double
        public var seed: UInt64
        /// Strike while a scheduled snapshot is running (`strike: during-snapshot`), the worst
        /// moment for a snapshot schedule: the one in flight is lost.
        public var duringSnapshot = false
        /// Strike this long after a scheduled snapshot began (one point of the snapshot cycle).
        public var strikeOffset: Double? = nil
        /// Several points of the snapshot cycle: the scenario is run once per point and the
        /// report gives min/median/max RPO and judges the worst case against the target.
        public var strikePoints: StrikePoints? = nil
    }

    /// `strike: random` (N points drawn from the snapshot interval with a seed, one in each N-th
    /// of it) or a list of
    /// offsets after a scheduled snapshot begins.
    public enum StrikePoints: Sendable, Equatable {
        case random(count: Int, seed: UInt64)
        case offsets([Double])

        /// The offsets in seconds, each within [0, every).
        public func offsets(every: Double) -> [Double] {
            switch self {
            case .offsets(let o): return o
            case .random(let count, let seed):
                var rng = SeededGenerator(seed: seed)
                // Stratified: point k falls in the k-th of `count` equal slices of the cycle, so
                // the points spread over all of it (early, during the snapshot, late). Millisecond
                // resolution, so the same seed gives the same offsets everywhere.
                let slice = max(1, Int(every * 1000) / max(1, count))
                return (0..<count).map { k in Double(k * slice + rng.below(slice)) / 1000 }
            }
        }

        public var description: String {
            switch self {
            case .random(let count, let seed): return "\(count) random points of the snapshot cycle (seed \(seed))"
            case .offsets(let o): return "\(o.count) points of the snapshot cycle (\(o.map { DrillFormat.seconds($0) }.joined(separator: ", ")) after a scheduled snapshot began)"
            }
        }
    }

    /// `replicate: {interval: 1s, snapshot_interval: 0}`: what `lifeboat replicate` would run with.
    public struct Replicate: Sendable, Equatable {
        /// A committed transaction is stored within about this long (`--interval`).
        public var interval: Double = 1
        /// Scheduled snapshots beside the segments (`--snapshot-interval`); 0: only the
        /// snapshot that starts the lineage.
        public var snapshotInterval: Double = 0
    }

    public enum SnapshotChoice: Sendable, Equatable {
        case latest
        /// Point-in-time: the newest snapshot taken before the disaster struck; with a replicate
        /// step, the state after the last transaction replicated before it.
        case beforeDisaster
        case id(String)
    }

    public struct Restore: Sendable {
        public var snapshot: SnapshotChoice
        /// Only this repository; nil tries every repository in order, as an operator would.
        public var from: String?
    }

    public struct Verify: Sendable {
        /// Check the drill markers (no gaps, no torn transactions); nil: when a workload ran.
        public var markers: Bool?
        public var queries: [Query]
    }

    public struct Query: Sendable {
        public var name: String
        public var sql: String
        public var expect: Expectation
        public var line: Int
    }

    public enum Expectation: Sendable, CustomStringConvertible {
        /// The first column of the first row compared with a number: =, !=, <, <=, >, >=.
        case compare(String, Double)
        case text(String)
        /// The same result the query gave on the database just before the disaster.
        case beforeDisaster

        public var description: String {
            switch self {
            case .compare(let op, let v): return "\(op) \(Expectation.number(v))"
            case .text(let t): return "= '\(t)'"
            case .beforeDisaster: return "same as before the disaster"
            }
        }

        package static func number(_ v: Double) -> String {
            v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        }
    }

    public var disaster: Disaster? {
        for s in steps { if case .disaster(let d) = s.step { return d } }
        return nil
    }

    /// The snapshot schedule's interval, when the scenario has one.
    public var snapshotEvery: Double? {
        steps.compactMap { e -> Double? in if case .snapshotSchedule(let s) = e.step { return s }; return nil }.first
    }

    /// The replicate step's settings, when the scenario replicates continuously.
    public var replication: Replicate? {
        steps.compactMap { e -> Replicate? in if case .replicate(let r) = e.step { return r }; return nil }.first
    }

    public var hasWorkload: Bool {
        steps.contains { if case .workload = $0.step { return true }; return false }
    }

    /// Scratch repositories that snapshots are written to (those that are not replicas).
    public var snapshotRepositories: [RepositorySpec] {
        repositories.filter { $0.isScratch && $0.replicaOf == nil }
    }
}
