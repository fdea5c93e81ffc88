import Foundation
import LifeboatCore

/// `status`'s view of the drill history: the newest drill, and per source the newest one that
/// passed, held against the source's `drill_within`. The history itself belongs to the drill
/// module (a floor above); the command line reads it and hands its entries here as `Drill`s.
public enum DrillStatus {
    /// One drill as `status` needs it.
    public struct Drill: Codable, Sendable, Equatable {
        public var id: String
        /// When it started (RFC 3339, UTC).
        public var time: String
        public var scenario: String
        public var scenarioFile: String
        /// The source it recovered (nil in history entries written before it was recorded).
        public var source: String?
        /// passed, target_missed or failed.
        public var outcome: String

        public init(id: String, time: String, scenario: String, scenarioFile: String, source: String?, outcome: String) {
            self.id = id
            self.time = time
            self.scenario = scenario
            self.scenarioFile = scenarioFile
            self.source = source
            self.outcome = outcome
        }
    }

    /// Per source: its newest drill and, with a `drill_within`, its newest passed one.
    public struct OfSource: Codable, Sendable {
        /// The newest drill of this source, whatever its outcome.
        public var last: Drill?
        /// When the newest passed drill of the source started (set with a `drill_within`).
        public var lastPassedTime: String?
        public var withinSeconds: Double?
        /// No passed drill of the source within its `drill_within`.
        public var overdue: Bool
    }

    /// The history read and its newest drill.
    public struct Summary: Codable, Sendable {
        /// The report directory read.
        public var history: String
        public var last: Drill?
        /// Some source's drill is overdue.
        public var overdue: Bool
    }

    /// Adds the drill fields to a built report: the newest drill overall, and for every source
    /// with a `drill_within` the newest passed drill of it and whether that is too old. Only a
    /// passed drill shows the source can be recovered within its targets, so a missed target or
    /// a drill that did not complete does not restart the clock.
    public static func apply(_ drills: [Drill], history: String, to report: inout StatusReport, config: LifeboatConfig?, now: Date = Date()) {
        let dated = drills.compactMap { d in RFC3339.parse(d.time).map { (drill: d, time: $0) } }.sorted { $0.time < $1.time }
        for i in report.sources.indices {
            let name = report.sources[i].source
            let ofSource = dated.filter { $0.drill.source == name }
            var status = OfSource(last: ofSource.last?.drill, lastPassedTime: nil, withinSeconds: nil, overdue: false)
            if let within = config?.drillWithin(for: name) {
                let passed = ofSource.last { $0.drill.outcome == "passed" }
                status.withinSeconds = within
                status.lastPassedTime = passed.map { RFC3339.format($0.time) }
                status.overdue = passed.map { now.timeIntervalSince($0.time) > within } ?? true
            }
            report.sources[i].drill = status
        }
        report.drill = Summary(history: history, last: dated.last?.drill, overdue: report.sources.contains { $0.drill?.overdue ?? false })
    }

    /// The exit line for overdue drills: since when, the limit, and what to run.
    public static func overdueMessage(_ report: StatusReport) -> String? {
        let overdue = report.sources.compactMap { s in s.drill.flatMap { $0.overdue ? (s.source, $0) : nil } }
        guard !overdue.isEmpty else { return nil }
        let parts = overdue.map { source, d -> String in
            let since = d.lastPassedTime.map { "no passed drill of \(source) since \($0)" }
                ?? "no passed drill of \(source) in \(report.drill?.history ?? "the drill history")"
            let limit = d.withinSeconds.map { " (drill_within \(configured($0)))" } ?? ""
            return "\(since)\(limit): run lifeboat drill run \(d.last?.scenarioFile ?? "SCENARIO.yml")"
        }
        return parts.joined(separator: "; ")
    }

    /// A duration as the config would give it: "365d", "12h", "90m", "45s".
    public static func configured(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] where s >= size && s % size == 0 { return "\(s / size)\(unit)" }
        return "\(s)s"
    }
}
