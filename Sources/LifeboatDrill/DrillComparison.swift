import Foundation
import LifeboatCore

extension DrillReport {
    /// The previous drill of the same scenario file, and the change since.
    public struct PreviousRun: Codable, Sendable, Equatable {
        public var id: String
        /// When it started (RFC 3339, UTC).
        public var time: String
        public var outcome: String
        public var rtoSeconds: Double?
        public var rpoSeconds: Double?
        public var lostTransactions: Int?
        /// This drill's figure minus the previous one (nil when either did not achieve one), and
        /// the change in percent of the previous one (nil also when that was 0).
        public var rtoDeltaSeconds: Double?
        public var rtoDeltaPercent: Double?
        public var rpoDeltaSeconds: Double?
        public var rpoDeltaPercent: Double?
    }
}

/// Compares a drill with the previous run of the same scenario. Runs are matched by the SHA-256
/// of the scenario file, not its name: an edited scenario (another disaster, other targets) is
/// not the same exercise, and two files may share a name.
public enum DrillComparison {
    /// Whether a history entry belongs to the report's series: same scenario file hash; entries
    /// written before the hash was recorded fall back to the scenario name (trends only).
    package static func sameSeries(_ e: DrillHistoryEntry, _ r: DrillReport) -> Bool {
        if let hash = e.scenarioSha256 { return hash == r.scenario.fileSha256 }
        return e.scenario == r.scenario.name
    }

    /// The newest earlier drill of the same scenario file in the history, compared with `r`.
    public static func previous(for r: DrillReport, in history: [DrillHistoryEntry]) -> DrillReport.PreviousRun? {
        guard let e = history.last(where: { $0.scenarioSha256 == r.scenario.fileSha256 && $0.id != r.id }) else { return nil }
        func delta(_ now: Double?, _ before: Double?) -> (Double?, Double?) {
            guard let now, let before else { return (nil, nil) }
            return (now - before, before > 0 ? (now - before) / before * 100 : nil)
        }
        let rto = delta(r.rto.achievedSeconds, e.rtoSeconds), rpo = delta(r.rpo.achievedSeconds, e.rpoSeconds)
        return .init(id: e.id, time: e.time, outcome: e.outcome, rtoSeconds: e.rtoSeconds, rpoSeconds: e.rpoSeconds,
                     lostTransactions: e.lostTransactions, rtoDeltaSeconds: rto.0, rtoDeltaPercent: rto.1,
                     rpoDeltaSeconds: rpo.0, rpoDeltaPercent: rpo.1)
    }

    /// "Previous run (2025-06-01, drill ID, passed): RTO 1.20 s → 1.35 s (+12 %), RPO 50 ms → 0 ms (-100 %)".
    public static func text(_ p: DrillReport.PreviousRun, _ r: DrillReport) -> String {
        func change(_ name: String, _ before: Double?, _ now: Double?, _ percent: Double?) -> String {
            var s = "\(name) \(figure(before)) → \(figure(now))"
            if let percent { s += String(format: " (%+.0f %%)", percent) } else if let before, let now, before == 0, now == 0 { s += " (unchanged)" }
            return s
        }
        return "Previous run (\(p.time.prefix(10)), drill \(p.id), \(p.outcome)): "
            + change("RTO", p.rtoSeconds, r.rto.achievedSeconds, p.rtoDeltaPercent) + ", "
            + change("RPO", p.rpoSeconds, r.rpo.achievedSeconds, p.rpoDeltaPercent)
    }

    static func figure(_ s: Double?) -> String { s.map { DrillFormat.seconds($0) } ?? "not achieved" }
}
