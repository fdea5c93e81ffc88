import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The write load and the snapshots (one now, or a schedule in the background), and the copy
/// of each snapshot to the scratch replicas.
extension DrillRunner {
    package func startWorkload(rate: Double, setup: DrillSetup, _ background: inout DrillBackground) throws {
        guard background.load == nil else {
            throw LifeboatError(.usage, "\(scenario.file): only one workload step per scenario")
        }
        let l = try WriteLoad(path: setup.databasePath, options: .init(commitsPerSecond: rate))
        background.loadRate = rate
        background.loadStartedMs = Clock.wallMilliseconds()
        background.loadStart = now
        l.start()
        background.load = l
        say("write load started: \(Int(rate)) marker transactions per second")
    }

    /// Stops the load and keeps what it committed. A load ended by the disaster's damage (a
    /// file overwritten under it) is no drill failure: its error is kept for the report.
    @discardableResult
    package func stopWorkload(_ background: inout DrillBackground) -> WriteLoad.Result? {
        guard let l = background.load else { return background.loadResult }
        background.load = nil
        let (r, error) = l.finish()
        background.loadResult = r
        background.loadSeconds = now - background.loadStart
        if background.committed == nil { background.committed = l.committed }
        if let error {
            background.loadError = Self.message(error)
            say("the write load stopped on an error: \(Self.message(error))")
        }
        event("write load (\(r.commits) transactions)", "load", from: background.loadStart)
        return r
    }

    package func takeSnapshot(_ setup: DrillSetup) throws {
        try snapshotting.withLock { _ in
            for r in setup.repositories where r.spec.isScratch && r.spec.replicaOf == nil {
                guard let repository = r.repository else { continue }
                let start = now
                let (s, committedAtMs) = try snapshot(repository, databasePath: setup.databasePath)
                let committedAt = committedAtMs.map { RFC3339.format(Date(unixMilliseconds: $0), fractional: true) }
                var replicated: [String] = []
                for replica in setup.repositories where replica.spec.replicaOf == r.spec.name {
                    do { try replicate(r, to: replica) } catch where cutOff.hasStruck {
                        say("copy of snapshot \(s.id.prefix(8)) to \(replica.spec.name) cut off by the disaster")
                        recorder.snapshot(.init(id: s.id, time: s.time, seconds: s.seconds, pagesNew: s.pagesNew, bytesAdded: s.bytesAdded, replicatedTo: replicated, committedAt: committedAt))
                        throw error
                    }
                    replicated.append(replica.spec.name)
                }
                recorder.snapshot(.init(id: s.id, time: s.time, seconds: s.seconds, pagesNew: s.pagesNew, bytesAdded: s.bytesAdded, replicatedTo: replicated, committedAt: committedAt))
                event("snapshot \(s.id.prefix(8))", "snapshot", from: start)
                say("snapshot \(s.id.prefix(8)) into \(r.spec.name): \(s.pagesNew) new pages, \(Units.formatBytes(s.bytesAdded)) added\(replicated.isEmpty ? "" : ", copied to \(replicated.joined(separator: ", "))")")
            }
        }
    }

    /// The one call that writes a snapshot of the drill's database: the same use case as
    /// `lifeboat snapshot` (its lock, its audit record), the local trail kept in the scratch space.
    /// The disaster's cut-off is checked just before the commit: a snapshot still running at the
    /// strike is lost, as it would be when the host goes down.
    /// Returns the snapshot and when its commit began (before the strike, for one that counts).
    package func snapshot(_ repository: Repository, databasePath: String) throws -> (result: SnapshotResult, committedAtMs: Int64?) {
        var options = Snapshotter.Options(source: scenario.source.name)
        let committing = Locked<Int64?>(nil)
        let hold = scenario.source.isDrillOwned ? try WriterHold(databasePath) : nil
        defer { hold?.release() }
        options.duringCapture = { _ in hold?.release() }
        options.beforeCommit = { [cutOff] in
            committing.withLock { $0 = Clock.wallMilliseconds() }
            try cutOff.beforeCommit()
        }
        cutOff.snapshotStarted()
        do {
            let s = try UseCase.snapshot(repository, source: scenario.source.name, databasePath: databasePath,
                                         options: options, lock: RepositoryLock.Options(), auditDirectory: scratch + "/audit")
            if let digest = hold?.tables { recorder.tables(digest, snapshot: s.id) }
            return (s, committing.current)
        } catch {
            if committing.current == nil { cutOff.snapshotAbandoned() }
            if cutOff.hasStruck { cutOff.snapshotCutOff() }
            throw error
        }
    }

    /// Copies to a scratch replica what its primary has and it lacks, as `lifeboat sync` does:
    /// every object checked against its name, snapshots last, the config once complete.
    package func replicate(_ primary: DrillRepository, to replica: DrillRepository) throws {
        let result = try Sync.run(from: primary.backend, to: replica.backend)
        if let damage = result.damageError(source: primary.backend.location) { throw damage }
    }

    package func startSchedule(every: Double, setup: DrillSetup, _ background: inout DrillBackground) {
        guard background.schedule == nil else { return }
        let schedule = DrillBackground.Schedule()
        background.schedule = schedule
        say("snapshot schedule started: every \(DrillFormat.seconds(every))")
        let thread = Thread { [self] in
            var next = Clock.monotonic() + every
            while !schedule.stop.current {
                if Clock.monotonic() < next {
                    Clock.sleep(seconds: min(0.01, next - Clock.monotonic()))
                    continue
                }
                do { try takeSnapshot(setup) } catch {
                    // After the strike a failure is the cut-off itself, not a fault of the drill.
                    if !cutOff.hasStruck { schedule.failure.withLock { $0 = error } }
                    break
                }
                next = max(next + every, Clock.monotonic())
            }
            schedule.done.signal()
        }
        thread.name = "lifeboat-drill-schedule"
        thread.start()
    }

    /// Stops the schedule (a snapshot in flight after the strike fails at its commit) and
    /// reports its error, if any.
    package func stopSchedule(_ background: inout DrillBackground) throws {
        guard let s = background.schedule else { return }
        background.schedule = nil
        s.stop.withLock { $0 = true }
        s.done.wait()
        if let e = s.failure.current { throw e }
    }

    /// Stops whatever still runs in the background (on errors and interrupts).
    package func stopBackground(_ background: inout DrillBackground) {
        stopReplication(&background)
        try? stopSchedule(&background)
        stopWorkload(&background)
    }
}
