import Foundation
import LifeboatCore
import LifeboatOperations

/// A finished drill's Prometheus samples (`MetricsFile.drillRun`), labelled with its scenario.
public enum DrillMetrics {
    public static func samples(_ r: DrillReport) -> [MetricsFile.Sample] {
        MetricsFile.drillRun(scenario: r.scenario.name, finishedAt: RFC3339.parse(r.finishedAt) ?? Date(), outcome: r.outcome.rawValue,
                             rtoSeconds: r.rto.achievedSeconds, rpoSeconds: r.rpo.achievedSeconds,
                             rtoTargetSeconds: r.targets.first { $0.measure == "RTO" }?.targetSeconds,
                             rpoTargetSeconds: r.targets.first { $0.measure == "RPO" }?.targetSeconds)
    }
}
