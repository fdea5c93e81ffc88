import Foundation
import LifeboatCore

/// The evidence a drill collects as it goes, from its own thread and from the snapshot
/// schedule's: progress lines, the timeline, the snapshots taken and the findings. Times are
/// seconds since the drill began.
package final class DrillRecorder: Sendable {
    private struct Evidence {
        var timeline: [DrillReport.TimelineEvent] = []
        var snapshots: [DrillReport.SnapshotRecordEntry] = []
        var findings: [String] = []
        /// The source's tables as each drill snapshot captured them, by snapshot id.
        var tables: [String: [DrillTableDigest]] = [:]
    }

    private let t0 = Clock.monotonic()
    private let progress: (@Sendable (String) -> Void)?
    private let evidence = Locked(Evidence())

    package init(progress: (@Sendable (String) -> Void)?) {
        self.progress = progress
    }

    package var now: Double { Clock.monotonic() - t0 }

    /// One line of progress for the person watching.
    package func say(_ message: String) {
        progress?(String(format: "[%6.1fs] ", now) + message)
    }

    /// A span on the report's timeline, ending now unless `end` is given.
    package func event(_ name: String, _ category: String, from start: Double, to end: Double? = nil) {
        let e = DrillReport.TimelineEvent(name: name, category: category, start: start, end: end ?? now)
        evidence.withLock { $0.timeline.append(e) }
    }

    package func snapshot(_ entry: DrillReport.SnapshotRecordEntry) {
        evidence.withLock { $0.snapshots.append(entry) }
    }

    /// Something the drill showed that the report must call out.
    package func finding(_ text: String) {
        evidence.withLock { $0.findings.append(text) }
    }

    package func tables(_ digest: [DrillTableDigest], snapshot id: String) {
        evidence.withLock { $0.tables[id] = digest }
    }

    package func tables(snapshot id: String) -> [DrillTableDigest]? { evidence.withLock { $0.tables[id] } }

    package var timeline: [DrillReport.TimelineEvent] { evidence.withLock { $0.timeline } }
    package var snapshots: [DrillReport.SnapshotRecordEntry] { evidence.withLock { $0.snapshots } }
    package var findings: [String] { evidence.withLock { $0.findings } }
}
