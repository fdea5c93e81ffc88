import Foundation
import LifeboatOperations

/// The drill lines of `lifeboat status`'s text: the newest drill, and each source's drill
/// against its drill_within.
enum StatusDrillLines {
    static func lines(_ r: StatusReport) -> [String] {
        guard let d = r.drill else { return [] }
        var out = [d.last.map { "last drill: \($0.time) \($0.scenario) (\($0.scenarioFile)): \($0.outcome)" } ?? "last drill: none recorded in \(d.history)"]
        for s in r.sources {
            guard let sd = s.drill, let within = sd.withinSeconds else { continue }
            let passed = sd.lastPassedTime.map { "last passed \($0)" } ?? "never passed"
            out.append("drill of \(s.source): \(passed), drill_within \(DrillStatus.configured(within)): \(sd.overdue ? "OVERDUE" : "ok")")
        }
        return out
    }
}
