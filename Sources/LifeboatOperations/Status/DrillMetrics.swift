import Foundation
import LifeboatCore

extension MetricsFile {
    /// Samples for one drill, labelled with its scenario's name. A figure the drill did not
    /// achieve is NaN, not absent: the file keeps series from earlier runs, and an absent
    /// sample would leave the previous drill's RTO standing beside this drill's result.
    public static func drillRun(scenario: String, finishedAt: Date, outcome: String, rtoSeconds: Double?, rpoSeconds: Double?,
                                rtoTargetSeconds: Double?, rpoTargetSeconds: Double?) -> [Sample] {
        let l = [("scenario", scenario)]
        var s = [Sample("lifeboat_drill_last_timestamp_seconds", l, finishedAt.timeIntervalSince1970.rounded()),
                 Sample("lifeboat_drill_last_result", l, outcome == "passed" ? 1 : outcome == "target_missed" ? 0 : -1),
                 Sample("lifeboat_drill_last_rto_seconds", l, rtoSeconds ?? .nan),
                 Sample("lifeboat_drill_last_rpo_seconds", l, rpoSeconds ?? .nan)]
        if let t = rtoTargetSeconds { s.append(Sample("lifeboat_drill_rto_target_seconds", l, t)) }
        if let t = rpoTargetSeconds { s.append(Sample("lifeboat_drill_rpo_target_seconds", l, t)) }
        return s
    }

    /// Samples for the drill part of a status report: per source with a `drill_within`, the
    /// age of its newest passed drill and whether it is overdue.
    public static func drillStatus(_ report: StatusReport, now: Date = Date()) -> [Sample] {
        report.sources.flatMap { src -> [Sample] in
            guard let d = src.drill, d.withinSeconds != nil else { return [] }
            let l = [("source", src.source)]
            let age = d.lastPassedTime.flatMap(RFC3339.parse).map { max(0, now.timeIntervalSince($0)).rounded() } ?? .nan
            return [Sample("lifeboat_drill_age_seconds", l, age), Sample("lifeboat_drill_overdue", l, d.overdue ? 1 : 0)]
        }
    }
}
