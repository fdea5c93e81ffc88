import Foundation
import LifeboatCore
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// What one run of a drill has set up and found, step by step. Only the drill's own thread
/// holds it; each step returns its result as a value, which the run keeps here for the report.
package struct DrillState {
    package var setup = DrillSetup()
    package var background = DrillBackground()
    package var disaster: DrillDisasterResult?
    package var recovery = DrillRecoveryResult()
    /// One per verify step (the restore's own checks count as one when the scenario has none).
    package var verifications: [DrillVerificationResult] = []

    package var checks: [DrillReport.Verification] { verifications.flatMap(\.checks) }
    package var rtoPhases: [DrillReport.Phase] {
        let detection = disaster.map {
            [DrillReport.Phase(name: "detection (damage → disaster declared)", seconds: $0.declaredAt - $0.struckAt),
             DrillReport.Phase(name: "stop the application and the snapshot schedule", seconds: $0.stoppedAt - $0.declaredAt)]
        } ?? []
        return detection + recovery.phases + verifications.map(\.phase)
    }
    package var verifiedAt: Double? { verifications.last?.verifiedAt }
}

/// The drill's database and repositories, filled in by setup and then only read (the snapshot
/// schedule's thread gets a copy).
package struct DrillSetup: Sendable {
    package var databasePath = ""
    package var databaseDescription = ""
    package var journalMode: String?
    package var repositories: [DrillRepository] = []
    /// Passphrase of the scratch repositories: random, in memory only, gone with the drill.
    package var scratchPassphrase: SecretBytes?
}

/// One repository of the scenario as the drill uses it.
package struct DrillRepository: Sendable {
    package let spec: Scenario.RepositorySpec
    package let backend: DrillBackend
    /// Where a scratch repository lives; nil for an existing one.
    package let directory: String?
    /// Scratch primaries snapshots are written to, opened once at setup.
    package var repository: Repository?

    package init(spec: Scenario.RepositorySpec, backend: DrillBackend, directory: String?) {
        self.spec = spec
        self.backend = backend
        self.directory = directory
    }
}

/// The write load, the snapshot schedule and replication, which run in the background until the disaster.
package struct DrillBackground {
    package var load: WriteLoad?
    package var loadRate = 0.0
    package var loadStartedMs: Int64 = 0
    package var loadStart = 0.0
    /// The load's last word, once stopped.
    package var loadResult: WriteLoad.Result?
    package var loadSeconds = 0.0
    /// Why the load stopped early, when the disaster's damage ended it.
    package var loadError: String?
    /// Every transaction the load committed up to the moment the disaster was declared: the
    /// committed work the RPO counts (taken at the declaration; later commits do not count).
    package var committed: [WriteLoad.Committed]?
    package var schedule: Schedule?
    /// The replicate step's runs (one per scratch primary), until the disaster cuts them off.
    package var replication: [DrillReplicationRun] = []
    package var replicationStart = 0.0

    /// What the schedule's thread and the drill's share.
    package struct Schedule: Sendable {
        package let stop = Locked(false)
        package let done = DispatchSemaphore(value: 0)
        package let failure = Locked<Error?>(nil)
    }
}

/// What the disaster step did and what was committed just before it.
package struct DrillDisasterResult: Sendable {
    package var record: DrillReport.DisasterRecord
    package var struckAtMs: Int64
    /// When the damage was done (drill clock): the RTO clock starts here, detection included.
    package var struckAt: Double
    /// When the disaster was declared (the end of detection).
    package var declaredAt: Double
    /// When the application (the write load) and the snapshot schedule had stopped.
    package var stoppedAt: Double
    /// The last transaction committed before the damage (marker sequence and time).
    package var lastCommitted: (seq: Int64, ms: Int64)?
    /// Markers after this seq were committed after a mistaken statement: a point-in-time restore
    /// to just before it rolls them back on purpose (lost by choice).
    package var statementAfterSeq: Int64?
    /// Snapshots (or replica copies) in flight at the strike and lost with it.
    package var cutOffSnapshots = 0
    /// Results of `expect: before-disaster` queries, by their index among the scenario's queries.
    package var beforeDisasterValues: [Int: SQLiteValue]
    /// rpo_query on the database before the disaster.
    package var liveNewestMs: Int64?
    /// How each repository the disaster hit was left, by name; the others are intact.
    package var repositoryStates: [String: String]
}

/// The restore step: every attempt, the restored file once one worked, and the timed phases.
package struct DrillRecoveryResult: Sendable {
    package struct Restored: Sendable {
        package var path: String
        package var result: RestoreResult
        package var repository: String
        package var snapshotTimeMs: Int64
        package var repositoryID: String
        package var imageDigest: String
    }

    package var attempts: [DrillReport.RestoreAttempt] = []
    package var restored: Restored?
    package var phases: [DrillReport.Phase] = []
    package var workers = Restorer.Options().workers
}

/// One verify step's checks and when they were done.
package struct DrillVerificationResult: Sendable {
    package var checks: [DrillReport.Verification]
    package var verifiedAt: Double
    package var phase: DrillReport.Phase
}
