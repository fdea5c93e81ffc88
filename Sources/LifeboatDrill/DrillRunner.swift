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
public final class DrillRunner: @unchecked Sendable {
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

    /// One repository of the scenario as the drill uses it.
    package final class DrillRepository: @unchecked Sendable {
        package let spec: Scenario.RepositorySpec
        package let backend: DrillBackend
        /// Scratch repositories snapshots are written to, opened once at setup.
        package var repository: Repository?
        package var directory: String?
        package var state = "intact"
        package init(spec: Scenario.RepositorySpec, backend: DrillBackend) {
            self.spec = spec
            self.backend = backend
        }
    }

    public let scenario: Scenario
    package let options: Options
    package let id: String
    package let t0 = Clock.monotonic()
    package let startedAt = Date()
    package let cancelled = Locked(false)
    package let timeline = Locked<[DrillReport.TimelineEvent]>([])
    package let snapshots = Locked<[DrillReport.SnapshotRecordEntry]>([])
    package let snapshotLock = NSLock()
    package var findings: [String] = []
    package var scratch = ""
    package var databasePath = ""
    package var databaseDescription = ""
    package var journalMode: String?
    package var repositories: [DrillRepository] = []
    /// Passphrase of the scratch repositories: random, in memory only, gone with the drill.
    package var scratchPassphrase: SecretBytes?

    // Background load and snapshot schedule (both run until the disaster).
    package var load: WriteLoad?
    package var loadRate = 0.0
    package var loadStartedMs: Int64 = 0
    package var loadStart = 0.0
    package var loadResult: WriteLoad.Result?
    package var schedule: (stop: Locked<Bool>, done: DispatchSemaphore, error: Locked<Error?>)?

    // What the disaster and the recovery leave for the report.
    package var disasterRecord: DrillReport.DisasterRecord?
    package var struckAtMs: Int64 = 0
    package var declaredAt: Double?
    package var lastBeforeDisaster: (seq: Int64, ms: Int64)?
    package var beforeDisasterValues: [Int: SQLiteValue] = [:]
    package var liveNewestMs: Int64?
    package var attempts: [DrillReport.RestoreAttempt] = []
    package var restored: (path: String, result: RestoreResult, repository: String, snapshotTimeMs: Int64)?
    package var rtoPhases: [DrillReport.Phase] = []
    package var verifications: [DrillReport.Verification] = []
    package var verifiedAt: Double?
    package var restoreWorkers = max(2, Parallel.workerCount)

    public init(scenario: Scenario, options: Options = Options()) {
        self.scenario = scenario
        self.options = options
        let stamp = RFC3339.format(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        id = "\(stamp)-\(Hex.encode((try? SecureRandom.bytes(3)) ?? [0, 0, 0]))"
    }

    /// Asks the drill to stop at the next step boundary or wait; it cleans up and throws DrillInterrupted.
    public func cancel() { cancelled.withLock { $0 = true } }

    package var now: Double { Clock.monotonic() - t0 }

    package func say(_ message: String) {
        options.progress?(String(format: "[%6.1fs] ", now) + message)
    }

    package func event(_ name: String, _ category: String, from start: Double, to end: Double? = nil) {
        let e = DrillReport.TimelineEvent(name: name, category: category, start: start, end: end ?? now)
        timeline.withLock { $0.append(e) }
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
        try prepareScratch()
        var failure: Error?
        do {
            try setUp()
            try execute()
        } catch {
            failure = error
        }
        stopBackground()
        // Measured from the restored file, so before the scratch directory goes.
        let rpo = measureRPO()
        let cleanupText = cleanUp()
        if failure is DrillInterrupted {
            say("interrupted; scratch files removed")
        } else if let failure {
            say("the drill could not complete: \(Self.message(failure))")
        }
        return makeReport(failure: failure, rpo: rpo, cleanup: cleanupText)
    }

    package func execute() throws {
        for entry in scenario.steps {
            try checkCancelled()
            switch entry.step {
            case .workload(let rate): try startWorkload(rate: rate)
            case .snapshot: try takeSnapshot()
            case .snapshotSchedule(let every): startSchedule(every: every)
            case .wait(let seconds):
                say("waiting \(DrillFormat.seconds(seconds)) (load and snapshots go on)")
                try sleep(seconds)
            case .disaster(let d): try strike(d)
            case .restore(let r): recover(r)
            case .verify(let v): try verify(v)
            }
        }
        // Without a verify step the restore's own checks are still listed and timed.
        if restored != nil && verifiedAt == nil { try verify(.init(markers: nil, queries: [])) }
    }

    package static func message(_ error: Error) -> String {
        if let e = error as? LifeboatError { return e.message }
        if error is DrillInterrupted { return "interrupted by a signal" }
        return String(describing: error)
    }

    // MARK: scratch space

    package func prepareScratch() throws {
        Self.sweepAbandoned(in: options.scratchParent)
        scratch = (options.scratchParent.hasSuffix("/") ? options.scratchParent : options.scratchParent + "/") + "lifeboat-drill-\(id)"
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
        guard !scratch.isEmpty, FileIO.fileExists(scratch) else { return "nothing to remove" }
        let files = (FileManager.default.enumerator(atPath: scratch)?.allObjects.count) ?? 0
        do {
            try FileManager.default.removeItem(atPath: scratch)
        } catch {
            findings.append("Cleanup failed: remove \(scratch) by hand (it holds copies of the drill database).")
            return "could not remove \(scratch): \(error.localizedDescription)"
        }
        event("cleanup", "cleanup", from: start)
        say("cleaned up: scratch directory removed (\(files) entries)")
        return "scratch directory \(scratch) removed (\(files) files and directories: drill database, scratch repositories, restored copy)"
    }

    /// Last resort on a second interrupt, just before the process exits: remove the scratch
    /// directory now, without waiting for anything still running.
    public func emergencyCleanup() {
        if !scratch.isEmpty { try? FileManager.default.removeItem(atPath: scratch) }
    }

    // MARK: setup

    package func setUp() throws {
        let start = now
        let name = scenario.source.name
        switch scenario.source.origin {
        case .generate(let size, let seed, let journal):
            databasePath = scratch + "/db/" + name
            say("generating a \(Units.formatBytes(size)) process database (\(journal.rawValue) mode)")
            let s = try ProcessDatabaseGenerator(options: .init(targetBytes: size, seed: seed, journalMode: journal)).generate(at: databasePath)
            databaseDescription = "generated process database in the drill's scratch directory (\(s.requests) requests, \(s.tasks) tasks, seed \(seed))"
            journalMode = journal.rawValue
        case .copy(let path):
            databasePath = scratch + "/db/" + name
            say("copying \(path) (read only) into the scratch directory")
            try Self.consistentCopy(of: path, to: databasePath)
            databaseDescription = "consistent copy of \(path) (VACUUM INTO; the original was only read)"
            journalMode = try SQLiteConnection(path: databasePath, mode: .readOnly).scalar("PRAGMA journal_mode")?.text
        case .live(let path):
            guard try FileIO.status(path)?.isRegularFile == true else {
                throw LifeboatError(.notFound, "live database \(path) does not exist; check source.live in \(scenario.file)")
            }
            databasePath = path
            databaseDescription = "live database \(path) (only read, never written)"
        }
        event("prepare database", "setup", from: start)

        let repoStart = now
        scratchPassphrase = try SecretBytes.random(count: 32)
        for spec in scenario.repositories {
            if spec.isScratch {
                let dir = scratch + "/repos/" + spec.name
                let r = DrillRepository(spec: spec, backend: DrillBackend(LocalBackend(path: dir), readOnly: false))
                r.directory = dir
                repositories.append(r)
            } else if let location = spec.location {
                repositories.append(DrillRepository(spec: spec, backend: DrillBackend(try options.openBackend(location), readOnly: true)))
            }
        }
        for r in repositories where r.spec.isScratch && r.spec.replicaOf == nil {
            guard let pass = scratchPassphrase else { break }
            r.repository = try Repository.initialize(backend: r.backend, passphrase: pass)
        }
        for r in repositories where r.spec.isScratch {
            guard let of = r.spec.replicaOf, let primary = repositories.first(where: { $0.spec.name == of }) else { continue }
            try r.backend.create()
            try ObjectReplicator.sync(from: primary.backend, to: r.backend)
        }
        let scratchCount = repositories.filter(\.spec.isScratch).count
        if scratchCount > 0 {
            say("created \(scratchCount) scratch repositor\(scratchCount == 1 ? "y" : "ies") (random passphrase, kept in memory only)")
        }
        event("prepare repositories", "setup", from: repoStart)
    }

    /// A consistent copy of a database that may be in use: VACUUM INTO reads it inside one
    /// read transaction and never writes to it. The copy keeps the original's journal mode.
    package static func consistentCopy(of path: String, to target: String) throws {
        guard try FileIO.status(path)?.isRegularFile == true else {
            throw LifeboatError(.notFound, "database to copy \(path) does not exist; check source.copy")
        }
        let src = try SQLiteConnection(path: path, mode: .readOnly)
        let mode = try src.scalar("PRAGMA journal_mode")?.text?.lowercased()
        try src.execute("VACUUM INTO '\(target.replacingOccurrences(of: "'", with: "''"))'")
        if mode == "wal" {
            try SQLiteConnection(path: target).execute("PRAGMA journal_mode = WAL")
        }
    }

    // MARK: load and snapshots

    package func startWorkload(rate: Double) throws {
        guard load == nil else {
            throw LifeboatError(.usage, "\(scenario.file): only one workload step per scenario")
        }
        let l = try WriteLoad(path: databasePath, options: .init(commitsPerSecond: rate))
        loadRate = rate
        loadStartedMs = Clock.wallMilliseconds()
        loadStart = now
        l.start()
        load = l
        say("write load started: \(Int(rate)) marker transactions per second")
    }

    /// Stops the load and returns the last transaction it committed.
    @discardableResult
    package func stopWorkload() throws -> WriteLoad.Result? {
        guard let l = load else { return loadResult }
        load = nil
        l.stop()
        let r = try l.wait()
        loadResult = r
        event("write load (\(r.commits) transactions)", "load", from: loadStart)
        return r
    }

    package func takeSnapshot() throws {
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        for r in repositories where r.spec.isScratch && r.spec.replicaOf == nil {
            guard let repository = r.repository else { continue }
            let start = now
            let s = try Snapshotter(repository: repository, options: .init(source: scenario.source.name)).run(databasePath: databasePath)
            var replicated: [String] = []
            for replica in repositories where replica.spec.replicaOf == r.spec.name {
                try ObjectReplicator.sync(from: r.backend, to: replica.backend)
                replicated.append(replica.spec.name)
            }
            snapshots.withLock {
                $0.append(.init(id: s.id, time: s.time, seconds: s.seconds, pagesNew: s.pagesNew, bytesAdded: s.bytesAdded, replicatedTo: replicated))
            }
            event("snapshot \(s.id.prefix(8))", "snapshot", from: start)
            say("snapshot \(s.id.prefix(8)) into \(r.spec.name): \(s.pagesNew) new pages, \(Units.formatBytes(s.bytesAdded)) added\(replicated.isEmpty ? "" : ", copied to \(replicated.joined(separator: ", "))")")
        }
    }

    package func startSchedule(every: Double) {
        guard schedule == nil else { return }
        let stop = Locked(false), done = DispatchSemaphore(value: 0), failure = Locked<Error?>(nil)
        schedule = (stop, done, failure)
        say("snapshot schedule started: every \(DrillFormat.seconds(every))")
        let thread = Thread { [self] in
            var next = Clock.monotonic() + every
            while !stop.current {
                if Clock.monotonic() < next {
                    Clock.sleep(seconds: min(0.01, next - Clock.monotonic()))
                    continue
                }
                do { try takeSnapshot() } catch {
                    failure.withLock { $0 = error }
                    break
                }
                next = max(next + every, Clock.monotonic())
            }
            done.signal()
        }
        thread.name = "lifeboat-drill-schedule"
        thread.start()
    }

    /// Stops the schedule (an in-flight snapshot completes) and reports its error, if any.
    package func stopSchedule() throws {
        guard let s = schedule else { return }
        schedule = nil
        s.stop.withLock { $0 = true }
        s.done.wait()
        if let e = s.error.current { throw e }
    }

    /// Stops whatever still runs in the background (on errors and interrupts).
    package func stopBackground() {
        try? stopSchedule()
        _ = try? stopWorkload()
    }
}
