import Foundation
import LifeboatCore

/// The disaster's cut-off of backups in flight. A real disaster does not wait for a running
/// snapshot to finish: one counts only if its commit began before the strike; after it every
/// snapshot commit and every write to a scratch replica fails. Shared by the drill's thread and
/// the snapshot schedule's.
package final class DrillCutOff: Sendable {
    private struct State {
        var struckAtMs: Int64?
        /// Snapshots started and not yet committing (what a strike "during a snapshot" waits for).
        var inFlight = 0
        var cutOffSnapshots = 0
        /// Snapshots started so far and when the newest began (monotonic seconds).
        var started = 0
        var lastStartedAt = 0.0
    }

    private let state = Locked(State())

    package init() {}

    /// Marks the strike; from now on no snapshot commits and no replica is written.
    package func strike() {
        state.withLock { if $0.struckAtMs == nil { $0.struckAtMs = Clock.wallMilliseconds() } }
    }

    package var hasStruck: Bool { state.current.struckAtMs != nil }

    /// When the backups were cut off (wall clock, ms).
    package var struckAtMs: Int64? { state.current.struckAtMs }

    package func snapshotStarted() {
        state.withLock {
            $0.inFlight += 1
            $0.started += 1
            $0.lastStartedAt = Clock.monotonic()
        }
    }

    /// A snapshot that ended without committing because of the strike.
    package func snapshotCutOff() { state.withLock { $0.cutOffSnapshots += 1 } }

    package var cutOffSnapshots: Int { state.current.cutOffSnapshots }

    /// Called just before a snapshot commits: throws after the strike, so the snapshot is lost
    /// as it would be when the host goes down.
    package func beforeCommit() throws {
        try state.withLock {
            $0.inFlight -= 1
            if $0.struckAtMs != nil { throw LifeboatError(.incomplete, "snapshot cut off by the disaster before its commit") }
        }
    }

    /// Ends a snapshot that failed before reaching its commit.
    package func snapshotAbandoned() { state.withLock { $0.inFlight = max(0, $0.inFlight - 1) } }

    /// Strikes while a snapshot is in flight: waits for one to start, then strikes at once
    /// (under the same lock, so its commit cannot slip in between). False on timeout.
    package func strikeDuringSnapshot(timeout: Double, cancelled: () -> Bool) -> Bool {
        let end = Clock.monotonic() + timeout
        while Clock.monotonic() < end && !cancelled() {
            let struck = state.withLock { s -> Bool in
                guard s.inFlight > 0 else { return false }
                s.struckAtMs = Clock.wallMilliseconds()
                return true
            }
            if struck { return true }
            Clock.sleep(seconds: 0.002)
        }
        return false
    }

    /// Strikes `offset` seconds after the next snapshot begins: one chosen point of the snapshot
    /// cycle. False on timeout (no snapshot started).
    package func strikeAfterNextSnapshotStart(offset: Double, timeout: Double, cancelled: () -> Bool) -> Bool {
        let seen = state.current.started
        let end = Clock.monotonic() + timeout
        var began: Double?
        while began == nil {
            guard Clock.monotonic() < end, !cancelled() else { return false }
            began = state.withLock { $0.started > seen ? $0.lastStartedAt : nil }
            if began == nil { Clock.sleep(seconds: 0.001) }
        }
        let at = (began ?? 0) + offset
        while Clock.monotonic() < at {
            if cancelled() { return false }
            Clock.sleep(seconds: min(0.005, max(0, at - Clock.monotonic())))
        }
        strike()
        return true
    }
}
