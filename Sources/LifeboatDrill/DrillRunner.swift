import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// Thrown when a drill is interrupted (SIGINT/SIGTERM); scratch files are removed first.
public struct DrillInterrupted: Error, Sendable {}

/// Runs one scenario end to end without a person: prepares a scratch database and scratch
/// repositories, runs load and snapshots, strikes the disaster, restores, verifies, measures
/// RTO and RPO, cleans up, and returns the report. Never writes to a live database or to an
/// existing repository: those are read only, their loss is simulated; damage is done to copies.
public final class DrillRunner: Sendable {
    public struct Options: Sendable {
        /// Where the drill's scratch directory is made (and removed afterwards).
        public var scratchParent: String
        /// Opens an existing repository location (local path; S3 once that backend is merged).
        public var openBackend: @Sendable (String) throws -> any Backend
        /// One line per event, as the drill goes.
        public var progress: (@Sendable (String) -> Void)?
        public var initiator: DrillReport.Initiator

        public init(scratchParent: String = NSTemporaryDirectory(),
                    openBackend: @escaping @Sendable (String) throws -> any Backend = { LocalBackend(path: $0) },
                    progress: (@Sendable (String) -> Void)? = nil,
                    initiator: DrillReport.Initiator = .current(command: "lifeboat drill run")) {
            self.scratchParent = scratchParent
            self.openBackend = openBackend
            self.progress = progress
            self.initiator = initiator
        }
    }

    public let scenario: Scenario
    package let options: Options
    package let id: String
    package let startedAt = Date()
    /// The drill's own directory (database copy, scratch repositories, restored file), made
    /// when the run starts and removed when it ends.
    package let scratch: String
    package let recorder: DrillRecorder
    package let cancelled: Locked<Bool>
    /// The run of the current strike point, when the scenario has several (its scratch
    /// directory is what an emergency cleanup removes).
    package let currentStrike = Locked<DrillRunner?>(nil)
    /// One snapshot at a time: a step's and the schedule's never overlap.
    package let snapshotting = Locked(())
    /// Set when the disaster strikes: snapshots and replica copies in flight are lost.
    package let cutOff = DrillCutOff()

    public convenience init(scenario: Scenario, options: Options = Options()) {
        self.init(scenario: scenario, options: options, cancelled: Locked(false))
    }

    /// One strike point's run shares its parent's cancel flag.
    package init(scenario: Scenario, options: Options, cancelled: Locked<Bool>) {
        self.scenario = scenario
        self.options = options
        self.cancelled = cancelled
        let stamp = RFC3339.format(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        id = "\(stamp)-\(Hex.encode((try? SecureRandom.bytes(3)) ?? [0, 0, 0]))"
        scratch = (options.scratchParent.hasSuffix("/") ? options.scratchParent : options.scratchParent + "/") + "lifeboat-drill-\(id)"
        recorder = DrillRecorder(progress: options.progress)
    }

    /// Asks the drill to stop at the next step boundary or wait; it cleans up and throws DrillInterrupted.
    public func cancel() { cancelled.withLock { $0 = true } }

    package var now: Double { recorder.now }

    package func say(_ message: String) { recorder.say(message) }

    package func event(_ name: String, _ category: String, from start: Double, to end: Double? = nil) {
        recorder.event(name, category, from: start, to: end)
    }

    package func checkCancelled() throws {
        if cancelled.current { throw DrillInterrupted() }
    }

    /// Sleeps in small slices so an interrupt is honoured within 50 ms.
    package func sleep(_ seconds: Double) throws {
        let end = Clock.monotonic() + seconds
        while true {
            try checkCancelled()
            let left = end - Clock.monotonic()
            if left <= 0 { return }
            Clock.sleep(seconds: min(left, 0.05))
        }
    }

    // MARK: run

    public func run() throws -> DrillReport {
        if let points = scenario.disaster?.strikePoints, let every = scenario.snapshotEvery {
            return try runStrikeSeries(points, every: every)
        }
        try prepareScratch()
        var state = DrillState()
        var failure: Error?
        do {
            try setUp(&state.setup)
            try execute(&state)
        } catch {
            failure = error
        }
        stopBackground(&state.background)
        // Measured from the restored file, so before the scratch directory goes.
        let rpo = measureRPO(state)
        let evidence = collectEvidence(state)
        let cleanupText = cleanUp()
        if failure is DrillInterrupted {
            say("interrupted; scratch files removed")
        } else if let failure {
            say("the drill could not complete: \(Self.message(failure))")
        }
        return makeReport(state, failure: failure, rpo: rpo, evidence: evidence, cleanup: cleanupText)
    }

    package func execute(_ state: inout DrillState) throws {
        for entry in scenario.steps {
            try checkCancelled()
            switch entry.step {
            case .workload(let rate): try startWorkload(rate: rate, setup: state.setup, &state.background)
            case .snapshot: try takeSnapshot(state.setup)
            case .snapshotSchedule(let every): startSchedule(every: every, setup: state.setup, &state.background)
            case .replicate(let r): try startReplication(r, setup: state.setup, &state.background)
            case .wait(let seconds):
                say("waiting \(DrillFormat.seconds(seconds)) (load and \(scenario.replication == nil ? "snapshots" : "replication") go on)")
                try sleep(seconds)
            case .disaster(let d): state.disaster = try strike(d, setup: state.setup, &state.background)
            case .restore(let r): state.recovery = recover(r, setup: state.setup, struckAtMs: state.disaster?.struckAtMs ?? 0)
            case .verify(let v): if let done = try verify(v, state) { state.verifications.append(done) }
            }
        }
        // Without a verify step the restore's own checks are still listed and timed.
        if state.recovery.restored != nil && state.verifications.isEmpty, let done = try verify(.init(markers: nil, queries: []), state) {
            state.verifications.append(done)
        }
    }

    package static func message(_ error: Error) -> String {
        if let e = error as? LifeboatError { return e.message }
        if error is DrillInterrupted { return "interrupted by a signal" }
        return String(describing: error)
    }

    // MARK: scratch space

    package func prepareScratch() throws {
        Self.sweepAbandoned(in: options.scratchParent)
        for dir in [scratch, scratch + "/db", scratch + "/repos", scratch + "/restored"] {
            if mkdir(dir, 0o700) != 0 {
                throw LifeboatError.posix(errno, "cannot create the drill's scratch directory", path: dir)
            }
        }
        // Names the owning process, so a later drill can remove what a killed one left behind.
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: scratch + "/owner.pid"))
    }

    /// Removes scratch directories of drills whose process is gone (killed with -9, power loss).
    package static func sweepAbandoned(in parent: String) {
        guard let names = try? FileIO.listDirectory(parent) else { return }
        for name in names where name.hasPrefix("lifeboat-drill-") {
            let dir = (parent as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: dir + "/owner.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }

    package func cleanUp() -> String {
        let start = now
        guard FileIO.fileExists(scratch) else { return "nothing to remove" }
        let files = (FileManager.default.enumerator(atPath: scratch)?.allObjects.count) ?? 0
        do {
            try FileManager.default.removeItem(atPath: scratch)
        } catch {
            recorder.finding("Cleanup failed: remove \(scratch) by hand (it holds copies of the drill database).")
            return "could not remove \(scratch): \(error.localizedDescription)"
        }
        event("cleanup", "cleanup", from: start)
        say("cleaned up: scratch directory removed (\(files) entries)")
        return "scratch directory \(scratch) removed (\(files) files and directories: drill database, scratch repositories, restored copy)"
    }

    /// Last resort on a second interrupt, just before the process exits: remove the scratch
    /// directory now, without waiting for anything still running.
    public func emergencyCleanup() {
        currentStrike.current?.emergencyCleanup()
        try? FileManager.default.removeItem(atPath: scratch)
    }
}
