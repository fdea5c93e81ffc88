import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// Everything a drill measured, in the form handed to an auditor (report.json; report.md and
/// report.html are rendered from it). Holds no secrets and no database content: verification
/// results are shown only when they are numbers (counts, sums), never text from the database.
public struct DrillReport: Codable, Sendable {
    /// The version of docs/drill-report.schema.json this report follows.
    public static let currentSchemaVersion = 1
    /// Optional only so reports written before it still decode.
    public var schemaVersion: Int? = DrillReport.currentSchemaVersion
    public var formatVersion = 1
    public var id: String
    public var outcome: Outcome
    /// One sentence: what happened and whether the targets were met.
    public var summary: String
    public var startedAt: String
    public var finishedAt: String
    public var durationSeconds: Double
    public var initiator: Initiator
    public var scenario: ScenarioInfo
    public var scope: Scope
    public var disaster: DisasterRecord
    public var targets: [TargetResult]
    public var rto: RTORecord
    public var rpo: RPORecord
    public var restoreAttempts: [RestoreAttempt]
    public var verifications: [Verification]
    public var findings: [String]
    public var timeline: [TimelineEvent]
    public var cleanup: String
    public var signOff: [SignOffField]
    /// What ran and what came back, so the figures can be traced (absent in reports before it).
    public var evidence: Evidence? = nil
    /// Several strike points of the snapshot cycle: one sample each; the rest of the report
    /// details the worst case (absent for a single strike).
    public var strikes: StrikeSeries? = nil
    /// The control frameworks whose evidence requirement this report answers.
    public var controls: [String]? = DrillReport.controls
    /// The previous drill of the same scenario file (same SHA-256) and how this one compares
    /// (`DrillComparison`); absent for the first run of a scenario file.
    public var previous: PreviousRun? = nil
    /// The RTO projected to the production database's size and link (the scenario's
    /// `projection:`): projected, not measured; absent without one or when nothing was recovered.
    public var projection: Projection? = nil

    public enum Outcome: String, Codable, Sendable {
        case passed
        case targetMissed = "target_missed"
        /// The drill could not complete (interrupted, scratch space full, …): no verdict.
        case failed
    }

    public struct Initiator: Codable, Sendable {
        public var user: String
        public var host: String
        /// "interactive (terminal)" or "unattended (cron, CI, script)".
        public var mode: String
        public var command: String
        public var toolVersion: String
        /// The person who says they ran it ($LIFEBOAT_OPERATOR), beside the OS account that did.
        public var operatorName: String? = nil
        /// "Jane Roe (root@vm)" with an operator, else "root@vm" (absent in reports before it).
        public var identity: String? = nil

        enum CodingKeys: String, CodingKey {
            case user, host, mode, command, toolVersion, identity
            case operatorName = "operator"
        }

        public init(user: String, host: String, mode: String, command: String, toolVersion: String = LifeboatVersion.current,
                    operatorName: String? = nil) {
            self.user = user
            self.host = host
            self.mode = mode
            self.command = command
            self.toolVersion = toolVersion
            self.operatorName = operatorName
            self.identity = Self.identity(user: user, host: host, operatorName: operatorName)
        }

        /// Who runs this process: the OS user and host from the system (never from anything the
        /// scenario says), and the operator's own name from $LIFEBOAT_OPERATOR when set.
        public static func current(command: String) -> Initiator {
            let interactive = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
            return Initiator(user: HostIdentity.userName, host: HostIdentity.hostName,
                             mode: interactive ? "interactive (terminal)" : "unattended (cron, CI or script)", command: command,
                             operatorName: operatorName(ProcessInfo.environmentValue("LIFEBOAT_OPERATOR")))
        }

        public static func identity(user: String, host: String, operatorName: String?) -> String {
            operatorName.map { "\($0) (\(user)@\(host))" } ?? "\(user)@\(host)"
        }

        /// One line of at most 120 characters, without control characters; nil when empty.
        static func operatorName(_ raw: String?) -> String? {
            guard let raw else { return nil }
            let line = String(String.UnicodeScalarView(raw.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : $0 }))
                .trimmingCharacters(in: .whitespaces)
            return line.isEmpty ? nil : String(line.prefix(120))
        }

        /// The identity, also for reports written before it was recorded.
        public var shown: String { identity ?? Self.identity(user: user, host: host, operatorName: operatorName) }
    }

    public struct ScenarioInfo: Codable, Sendable {
        public var name: String
        public var description: String
        public var file: String
        public var fileSha256: String
    }

    public struct Scope: Codable, Sendable {
        public var source: String
        /// generated (drill-owned), copy of PATH, or live PATH (read only).
        public var database: String
        public var databaseBytes: Int?
        public var journalMode: String?
        public var repositories: [RepositoryRecord]
        public var snapshots: [SnapshotRecordEntry]
        public var workload: WorkloadRecord?
    }

    public struct RepositoryRecord: Codable, Sendable {
        public var name: String
        /// "scratch (created and deleted by the drill)" or the location as configured.
        public var location: String
        public var role: String
        public var stateAfterDisaster: String
    }

    public struct SnapshotRecordEntry: Codable, Sendable {
        public var id: String
        public var time: String
        public var seconds: Double
        public var pagesNew: Int
        public var bytesAdded: Int
        public var replicatedTo: [String]
        /// When its commit began; a snapshot counts only if this precedes the strike.
        public var committedAt: String? = nil
    }

    public struct WorkloadRecord: Codable, Sendable {
        public var commitsPerSecondTarget: Double
        public var commits: Int
        public var firstSeq: Int64
        public var lastSeq: Int64
        public var seconds: Double
    }

    public struct DisasterRecord: Codable, Sendable {
        public var kind: String
        public var description: String
        /// When the damage was done, and when the disaster was declared (RTO starts here).
        public var struckAt: String
        public var declaredAt: String
        public var details: [String]
    }

    public struct TargetResult: Codable, Sendable {
        public var measure: String
        public var target: String
        public var targetSeconds: Double?
        public var achieved: String
        public var achievedSeconds: Double?
        public var met: Bool
        public var detail: String
    }

    public struct RTORecord: Codable, Sendable {
        /// From the damage (detection included) to the restored database, swapped into the
        /// production path and answering the application's health query, verified; nil when
        /// recovery failed.
        public var achievedSeconds: Double?
        public var phases: [Phase]
        /// How fetch, decrypt+decompress and write shared the parallel restore (worker time).
        public var restoreWorkerSeconds: [Phase]
        public var restoreWorkers: Int
    }

    public struct Phase: Codable, Sendable {
        public var name: String
        public var seconds: Double
    }

    public struct RPORecord: Codable, Sendable {
        /// markers (committed work lost, from the drill write load's own log), rpo_query_estimate
        /// (a stand-in query, not a count), or snapshot_age (an upper bound).
        public var method: String
        public var achievedSeconds: Double?
        public var lostTransactions: Int?
        public var lastCommittedBeforeDisaster: String?
        public var newestRestored: String?
        public var detail: String
        /// Transactions the load had committed when the disaster was declared.
        public var committedTransactions: Int? = nil
        /// Of the lost ones: missing because no backup held them.
        public var lostByBackup: Int? = nil
        /// Of the lost ones: committed after a mistaken statement and rolled back on purpose by
        /// the point-in-time restore to just before it.
        public var lostByChoice: Int? = nil
        /// Commit time of the oldest transaction lost by the backup (none lost: absent).
        public var oldestLostByBackup: String? = nil
        /// rpo_query's figure beside the marker count: an estimate, never the measure.
        public var estimate: Estimate? = nil
    }

    public struct Estimate: Codable, Sendable {
        public var method: String
        public var seconds: Double
        public var detail: String
    }

    public struct RestoreAttempt: Codable, Sendable {
        public var repository: String
        public var ok: Bool
        public var snapshot: String?
        public var snapshotTime: String?
        public var seconds: Double
        public var error: String?
        /// After a drill that replicated: the time of the state restored (the last transaction
        /// replayed over the snapshot), and how many transactions were replayed.
        public var stateTime: String? = nil
        public var replayedTransactions: Int? = nil
    }

    public struct Verification: Codable, Sendable {
        public var name: String
        public var check: String
        public var expected: String
        /// The result when it is a number; text results are never copied into a report.
        public var actual: String
        public var passed: Bool
    }

    public struct TimelineEvent: Codable, Sendable {
        public var name: String
        /// setup, load, snapshot, disaster, recovery, verify, cleanup
        public var category: String
        public var start: Double
        public var end: Double
    }

    public struct Evidence: Codable, Sendable {
        public var lifeboatVersion: String
        /// Who ran the drill: the initiator's identity ("Jane Roe (root@vm)").
        public var identity: String? = nil
        /// SHA-256 of the running binary (/proc/self/exe).
        public var binarySha256: String?
        /// The commit the binary was built from (Scripts/build-info), or a text starting
        /// "unknown" when the build did not record it.
        public var buildCommit: String?
        public var sqliteVersion: String?
        public var scenarioSha256: String
        /// Repository name → its id (from its config), for every repository the drill opened.
        public var repositoryIds: [String: String]
        public var restoredSnapshot: String?
        /// The image digest in the restored snapshot's manifest (the restore checks pages against it).
        public var restoredImageDigest: String?
        /// SHA-256 of the restored database file, as verified.
        public var restoredFileSha256: String?
        public var restoredFileBytes: Int?
    }

    public struct StrikeSeries: Codable, Sendable {
        /// How the points were chosen ("3 random points of the snapshot cycle (seed 1)").
        public var points: String
        public var snapshotEverySeconds: Double
        public var samples: [StrikeSample]
        /// Over the samples that recovered and verified; nil when none did.
        public var rpoMinSeconds: Double?
        public var rpoMedianSeconds: Double?
        public var rpoMaxSeconds: Double?
        /// Index into `samples` of the worst case, which the rest of the report details.
        public var worstCase: Int
    }

    public struct StrikeSample: Codable, Sendable {
        /// Seconds after a scheduled snapshot began.
        public var offsetSeconds: Double
        public var drillId: String
        public var outcome: String
        public var struckAt: String
        public var rpoSeconds: Double?
        public var lostTransactions: Int?
        public var rtoSeconds: Double?
        public var restoredSnapshot: String?
        public var rpoMet: Bool
        public var rtoMet: Bool
    }

    public struct SignOffField: Codable, Sendable {
        public var role: String
        public var name: String
        public var date: String
        public var signature: String
    }

    public static let blankSignOff = [
        SignOffField(role: "Drill conducted by", name: "", date: "", signature: ""),
        SignOffField(role: "Reviewed by (system owner)", name: "", date: "", signature: ""),
        SignOffField(role: "Approved by (information security)", name: "", date: "", signature: ""),
    ]

    /// Frameworks whose evidence requirement a drill report answers.
    public static let controls = [
        "ISO/IEC 27001:2022 A.8.13 (information backup), A.5.30 (ICT readiness for business continuity)",
        "SOC 2 A1.3 (recovery plan testing)",
        "HIPAA 45 CFR 164.308(a)(7)(ii)(D) (testing and revision procedures)",
        "GDPR Art. 32(1)(c) (restore availability in a timely manner), 32(1)(d) (regular testing)",
    ]

    public func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var data = try enc.encode(self)
        data.append(0x0a)
        return [UInt8](data)
    }

    public static func decode(_ bytes: [UInt8]) throws -> DrillReport {
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        return try dec.decode(DrillReport.self, from: Data(bytes))
    }

    public var exitKind: LifeboatError.Kind? {
        switch outcome {
        case .passed: return nil
        case .targetMissed: return .targetMissed
        case .failed: return .incomplete
        }
    }
}

/// Seconds for people: "850 ms", "4.2 s", "3 min 5 s", "2 h 10 min".
public enum DrillFormat {
    public static func seconds(_ s: Double?) -> String {
        guard let s else { return "not achieved" }
        if s < 1 { return "\(Int((s * 1000).rounded())) ms" }
        if s < 60 { return String(format: "%.2f s", s) }
        if s < 3600 { return "\(Int(s) / 60) min \(Int(s) % 60) s" }
        return "\(Int(s) / 3600) h \((Int(s) % 3600) / 60) min"
    }
}
