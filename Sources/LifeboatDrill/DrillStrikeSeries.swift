import Foundation
import LifeboatCore

/// A scenario struck at several points of its snapshot cycle (`strike: random` or a list of
/// offsets): one full run per point, then one report whose figures are the worst case, with
/// every point's sample beside it. The RPO target is met only if the worst case meets it.
extension DrillRunner {
    package func runStrikeSeries(_ points: Scenario.StrikePoints, every: Double) throws -> DrillReport {
        let offsets = points.offsets(every: every)
        var samples: [(offset: Double, report: DrillReport)] = []
        for (i, offset) in offsets.enumerated() {
            say("strike point \(i + 1) of \(offsets.count): \(DrillFormat.seconds(offset)) after a scheduled snapshot begins")
            let run = DrillRunner(scenario: scenario.struck(at: offset), options: options, cancelled: cancelled)
            currentStrike.withLock { $0 = run }
            let report = try run.run()
            currentStrike.withLock { $0 = nil }
            samples.append((offset, report))
            if report.outcome == .failed { break }
        }
        return DrillStrikeSeries.combine(id: id, points: points.description, every: every, samples: samples, targets: scenario.targets)
    }
}

extension Scenario {
    /// The same scenario with its disaster struck at one point of the snapshot cycle.
    package func struck(at offset: Double) -> Scenario {
        var s = self
        for i in s.steps.indices {
            guard case .disaster(var d) = s.steps[i].step else { continue }
            d.strikePoints = nil
            d.strikeOffset = offset
            s.steps[i].step = .disaster(d)
        }
        return s
    }
}

package enum DrillStrikeSeries {
    /// The samples as table rows (offset, run, outcome, RPO, lost, RTO, restored snapshot), for
    /// the Markdown and HTML reports alike.
    package static func rows(_ s: DrillReport.StrikeSeries) -> [[String]] {
        s.samples.enumerated().map { i, x in
            [DrillFormat.seconds(x.offsetSeconds) + (i == s.worstCase ? " (worst case)" : ""), x.drillId, x.outcome,
             DrillFormat.seconds(x.rpoSeconds) + (x.rpoMet ? "" : " (missed)"), x.lostTransactions.map(String.init) ?? "—",
             DrillFormat.seconds(x.rtoSeconds) + (x.rtoMet ? "" : " (missed)"), x.restoredSnapshot ?? "—"]
        }
    }

    package static let header = ["Strike (after a snapshot began)", "Run", "Outcome", "RPO", "Lost transactions", "RTO", "Restored snapshot"]

    package static func spreadText(_ s: DrillReport.StrikeSeries) -> String {
        "\(s.points), snapshots every \(DrillFormat.seconds(s.snapshotEverySeconds)): RPO min \(DrillFormat.seconds(s.rpoMinSeconds)), median \(DrillFormat.seconds(s.rpoMedianSeconds)), max \(DrillFormat.seconds(s.rpoMaxSeconds)); the targets are judged on the worst case, which the rest of this report details."
    }

    /// Recovered and verified: the RPO row's achieved figure, else +∞ (the worst of all).
    static func rpoKey(_ r: DrillReport) -> Double {
        r.targets.first { $0.measure == "RPO" }?.achievedSeconds ?? .infinity
    }

    package static func median(_ values: [Double]) -> Double? {
        let v = values.sorted()
        guard !v.isEmpty else { return nil }
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// One report from the samples: the worst case's details (highest RPO; one that did not
    /// recover is worse than any figure), every target met only if met at every point, the RTO
    /// as the slowest recovery, and a table of all samples.
    package static func combine(id: String, points: String, every: Double, samples: [(offset: Double, report: DrillReport)],
                                targets t: Scenario.Targets) -> DrillReport {
        // runStrikeSeries always passes at least one sample.
        let worstIndex = samples.indices.max(by: { a, b in
            let ka = rpoKey(samples[a].report), kb = rpoKey(samples[b].report)
            if ka != kb { return ka < kb }
            return (samples[a].report.rpo.lostTransactions ?? 0) < (samples[b].report.rpo.lostTransactions ?? 0)
        }) ?? 0
        var r = samples[worstIndex].report
        let rows = samples.map { s in (s, rto: s.report.targets.first { $0.measure == "RTO" }, rpo: s.report.targets.first { $0.measure == "RPO" }) }
        let rpos = rows.compactMap { $0.rpo?.achievedSeconds }
        let series = DrillReport.StrikeSeries(
            points: points, snapshotEverySeconds: every,
            samples: rows.map { s, rto, rpo in
                .init(offsetSeconds: s.offset, drillId: s.report.id, outcome: s.report.outcome.rawValue, struckAt: s.report.disaster.struckAt,
                      rpoSeconds: rpo?.achievedSeconds, lostTransactions: s.report.rpo.lostTransactions, rtoSeconds: rto?.achievedSeconds,
                      restoredSnapshot: s.report.restoreAttempts.last { $0.ok }?.snapshot, rpoMet: rpo?.met ?? false, rtoMet: rto?.met ?? false)
            },
            rpoMinSeconds: rpos.min(), rpoMedianSeconds: median(rpos), rpoMaxSeconds: rpos.count == samples.count ? rpos.max() : nil,
            worstCase: worstIndex)
        let n = samples.count
        let spread = "min \(DrillFormat.seconds(series.rpoMinSeconds)), median \(DrillFormat.seconds(series.rpoMedianSeconds)), max \(DrillFormat.seconds(rpos.max()))"

        // Every target is judged at every point: met only where met at all of them.
        let allRTO = rows.map { $0.rto?.achievedSeconds }
        let worstRTO: Double? = allRTO.contains { $0 == nil } ? nil : allRTO.compactMap { $0 }.max()
        for k in r.targets.indices {
            let measure = r.targets[k].measure
            let metEverywhere = samples.allSatisfy { s in s.report.targets.first { $0.measure == measure }?.met == true }
            r.targets[k].met = metEverywhere
            switch measure {
            case "RTO":
                r.targets[k].achievedSeconds = worstRTO
                r.targets[k].achieved = DrillFormat.seconds(worstRTO)
                r.targets[k].detail = "slowest of \(n) strike points; " + r.targets[k].detail
            case "RPO":
                r.targets[k].detail = "worst case of \(n) strike points (\(spread)); the target is met only if the worst case meets it. " + r.targets[k].detail
            case "Lost transactions":
                let lost = samples.map { $0.report.rpo.lostTransactions }
                if !lost.contains(where: { $0 == nil }), let most = lost.compactMap({ $0 }).max() { r.targets[k].achieved = String(most) }
                r.targets[k].detail = "most of \(n) strike points; " + r.targets[k].detail
            default:
                r.targets[k].detail = "at every one of \(n) strike points; " + r.targets[k].detail
            }
        }
        r.rto.achievedSeconds = worstRTO

        let failedSample = samples.firstIndex { $0.report.outcome == .failed }
        if let failedSample {
            r.outcome = .failed
            r.summary = "The drill could not complete at strike point \(failedSample + 1) of \(n): \(samples[failedSample].report.summary)"
        } else if r.targets.allSatisfy(\.met) {
            r.outcome = .passed
            r.summary = "Recovered from \(r.disaster.kind) at \(n) points of the snapshot cycle: slowest recovery \(DrillFormat.seconds(worstRTO)) (target \(DrillFormat.seconds(t.rto))), worst-case data loss \(DrillFormat.seconds(rpos.max())) (\(spread); target \(DrillFormat.seconds(t.rpo))): every target met."
        } else {
            r.outcome = .targetMissed
            r.summary = "Target missed over \(n) strike points: " + r.targets.filter { !$0.met }.map { "\($0.measure) \($0.achieved) (target \($0.target))" }.joined(separator: "; ") + "."
        }
        r.id = id
        r.strikes = series
        r.startedAt = samples.first?.report.startedAt ?? r.startedAt
        r.finishedAt = samples.last?.report.finishedAt ?? r.finishedAt
        r.durationSeconds = samples.reduce(0) { $0 + $1.report.durationSeconds }
        r.findings.insert("Struck at \(n) points of the \(DrillFormat.seconds(every)) snapshot cycle (\(points)): RPO \(spread). The disaster, timeline and restore in this report are the worst case (strike point \(worstIndex + 1), run \(samples[worstIndex].report.id)).", at: 0)
        r.cleanup = samples.map(\.report.cleanup).joined(separator: "; ")
        return r
    }

    /// The phase table details the worst-RPO run, so its total is that run's RTO; the report's
    /// RTO is the slowest of all runs. The total and, when they differ, a line saying so.
    package static func phaseTotal(_ r: DrillReport) -> (seconds: Double?, note: String?) {
        guard let strikes = r.strikes, strikes.samples.indices.contains(strikes.worstCase) else { return (r.rto.achievedSeconds, nil) }
        let shown = strikes.samples[strikes.worstCase].rtoSeconds
        guard shown != r.rto.achievedSeconds else { return (shown, nil) }
        return (shown, "These phases are the worst-RPO run's (strike point \(strikes.worstCase + 1)); the RTO judged against the target is the slowest of the \(strikes.samples.count) strike points: \(DrillFormat.seconds(r.rto.achievedSeconds)).")
    }
}
