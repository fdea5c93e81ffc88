import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations

/// One `replicate` run of the drill: `lifeboat replicate`'s SourceReplicator following the
/// drill's database into one scratch primary (and that primary's scratch replicas), on a thread
/// of its own until the disaster cuts it off as a crash would.
package struct DrillReplicationRun: Sendable {
    package let repository: String
    package let replicator: SourceReplicator
    package let done = DispatchSemaphore(value: 0)
    package let failure = Locked<Error?>(nil)
}

/// The replicate step, and its cut-off at the disaster.
extension DrillRunner {
    package func startReplication(_ step: Scenario.Replicate, setup: DrillSetup, _ background: inout DrillBackground) throws {
        guard background.replication.isEmpty else {
            throw LifeboatError(.usage, "\(scenario.file): only one replicate step per scenario")
        }
        let start = now
        var options = SourceReplicator.Options()
        options.interval = step.interval
        options.poll = min(0.1, step.interval / 4)   // as `lifeboat replicate --interval`
        options.snapshotInterval = step.snapshotInterval
        options.snapshot = Snapshotter.Options(source: scenario.source.name)
        options.auditDirectory = scratch + "/audit"
        // Only what an operator must see (lineages, breaks, failures, the cut-off), on the
        // drill's own progress lines rather than stderr.
        let log = ReplicationLog(json: false, quiet: true, write: { [recorder] line in
            recorder.say("replicate: " + (line.split(separator: " ", maxSplits: 1).last.map(String.init) ?? line))
        })
        for primary in setup.repositories where primary.spec.isScratch && primary.spec.replicaOf == nil {
            guard let opened = primary.repository, let dir = primary.directory else { continue }
            // The primary through the disaster's cut-off (the drill's own snapshots write to it
            // without one), and its scratch replicas, which have one already: segments go to
            // every copy, as `replicate --repo A --repo B` ships them.
            var copies: [any Backend] = [DrillBackend(LocalBackend(path: dir), readOnly: false, cutOff: cutOff)]
            copies += setup.repositories.filter { $0.spec.replicaOf == primary.spec.name }.map(\.backend)
            let backend: any Backend = copies.count == 1 ? copies[0] : ReplicatedBackend(copies)
            let repository = Repository(backend: backend, keyring: opened.keyring, config: opened.config, keySlot: opened.keySlot)
            let replicator = SourceReplicator(source: scenario.source.name, databasePath: setup.databasePath, repository: repository, options: options, log: log)
            let run = DrillReplicationRun(repository: primary.spec.name, replicator: replicator)
            let thread = Thread {
                do { try replicator.run(stop: { false }) } catch { run.failure.withLock { $0 = error } }
                run.done.signal()
            }
            thread.name = "lifeboat-drill-replicate"
            thread.start()
            background.replication.append(run)
            // The lineage starts at a snapshot of its own: the load's transactions count from there.
            while replicator.status.snapshots == 0 {
                if run.done.wait(timeout: .now()) == .success {
                    run.done.signal()
                    throw LifeboatError(.incomplete, "replicate into '\(primary.spec.name)' stopped before its first snapshot: \(run.failure.current.map { Self.message($0) } ?? "no error given")")
                }
                try sleep(0.01)
            }
            let names = copies.count == 1 ? "'\(primary.spec.name)'" : "'\(primary.spec.name)' and its replicas"
            say("replicate started into \(names): every committed transaction stored within \(DrillFormat.seconds(step.interval)), lineage \(replicator.status.lineage ?? "?") from a snapshot")
        }
        background.replicationStart = start
    }

    /// The disaster ends every replicate run as a crash would: nothing more is read or stored
    /// (a PUT already under way may still land, as on a real host). At once, before the damage;
    /// throws when a run had failed before the strike.
    package func cutOffReplication(_ background: DrillBackground) throws {
        for run in background.replication {
            if run.done.wait(timeout: .now()) == .success {
                run.done.signal()
                if let e = run.failure.current {
                    throw LifeboatError(.incomplete, "replicate into '\(run.repository)' had stopped before the disaster: \(Self.message(e))")
                }
            }
            run.replicator.cutOff()
        }
    }

    /// Waits for the runs cut off to end; returns what each had stored, for the disaster's details.
    package func endReplication(_ background: inout DrillBackground, setup: DrillSetup, struckAtMs: Int64) -> [String] {
        guard !background.replication.isEmpty else { return [] }
        var lines: [String] = []
        for run in background.replication {
            run.replicator.cutOff()
            if run.done.wait(timeout: .now() + 30) == .timedOut {
                recorder.finding("replicate into '\(run.repository)' did not end within 30 s of its cut-off.")
            }
            let st = run.replicator.status
            var stored: [String] = []
            for replica in st.replicas {
                let name = setup.repositories.first { $0.backend.location == replica.location }?.spec.name ?? "a replica"
                let ago = replica.timeMs > 0 ? " (read \(DrillFormat.seconds(Double(max(0, struckAtMs - replica.timeMs)) / 1000)) before the cut-off)" : ""
                stored.append("'\(name)' holds transactions through #\(replica.seq)\(ago)")
            }
            lines.append("replicate into '\(run.repository)' cut off as a crash: \(st.transactions) transactions read from the WAL, \(st.segments) segments sealed; \(stored.joined(separator: "; "))")
        }
        event("replicate (continuous)", "snapshot", from: background.replicationStart)
        background.replication = []
        return lines
    }

    /// Ends replication still running when the drill stops early (an error, an interrupt).
    package func stopReplication(_ background: inout DrillBackground) {
        for run in background.replication {
            run.replicator.cutOff()
            _ = run.done.wait(timeout: .now() + 30)
        }
        background.replication = []
    }
}
