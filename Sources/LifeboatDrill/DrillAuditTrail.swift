import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations

/// Each drill's evidence in the audit trail of the existing repositories its scenario names:
/// the report's SHA-256 and its history line's, as one audit object per repository (the one
/// write a drill makes to a real repository). It lives encrypted off the host, so whoever can
/// rewrite the report directory and the anchor file still cannot make a drill disappear:
/// `drill history --verify --repo LOCATION` holds the local history against it.
public enum DrillAuditTrail {
    package enum Key {
        static let drillID = "drill_id"
        static let reportSHA256 = "report_sha256"
        static let historyLineSHA256 = "history_line_sha256"
        static let historyEntry = "history_entry"
        static let reportDir = "report_dir"
        static let scenarioSHA256 = "scenario_sha256"
        static let outcome = "outcome"
    }

    package static func details(_ report: DrillReport, written: DrillArchive.Written, reportDir: String) -> [String: AuditValue] {
        [Key.drillID: .string(report.id), Key.reportSHA256: .string(written.reportSHA256),
         Key.historyLineSHA256: .string(written.historyLineSHA256), Key.historyEntry: .int(written.historyEntry),
         Key.reportDir: .string(DrillAnchor.key(reportDir)), Key.scenarioSHA256: .string(report.scenario.fileSha256),
         Key.outcome: .string(report.outcome.rawValue)]
    }

    /// Appends the drill to the audit trail of every existing repository of the scenario (scratch
    /// ones are gone with the drill). Returns one line per repository saying what was done; a
    /// repository that cannot be reached or opened is said so, and the drill's verdict stands.
    public static func record(_ report: DrillReport, written: DrillArchive.Written, reportDir: String, scenario: Scenario,
                              openBackend: (String) throws -> any Backend) -> [String] {
        let result: AuditResult
        switch report.outcome {
        case .passed: result = .ok
        case .targetMissed: result = .incomplete
        case .failed: result = .failed
        }
        var out: [String] = []
        for spec in scenario.repositories where !spec.isScratch {
            guard let location = spec.location else { continue }
            do {
                let backend = try openBackend(location)
                let passphrase = try PassphraseSource.fromEnvironment(prefix: spec.passwordPrefix, purpose: "passphrase for repository '\(spec.name)'")
                let repository = try Repository.open(backend: backend, passphrase: passphrase)
                UseCase.recordDrill(repository, source: scenario.source.name, result: result, details: details(report, written: written, reportDir: reportDir))
                out.append("drill recorded in the audit trail of '\(spec.name)' (\(location))")
            } catch {
                out.append("the drill could not be recorded in the audit trail of '\(spec.name)' (\(location)): \(DrillRunner.message(error)); the report and its local history stand")
            }
        }
        return out
    }

    /// The drill records of one repository's audit trail that belong to this report directory.
    public static func records(in repository: Repository, reportDir: String) throws -> [AuditRecord] {
        let key = DrillAnchor.key(reportDir)
        return try UseCase.drillRecords(repository).filter { $0.details[Key.reportDir]?.stringValue == key }
    }

    /// Problems found when the local history is held against a repository's drill records: a
    /// drill the trail knows and the history lacks (removed), a history line or report.json that
    /// differs from what the trail recorded (rewritten).
    public static func verify(reportDir: String, records: [AuditRecord], repository: String) throws -> [String] {
        let path = reportDir + "/" + DrillArchive.historyFile
        let lines = FileIO.fileExists(path) ? try DrillArchive.lines(path) : []
        let entries = try DrillArchive.readHistory(reportDir)
        var problems: [String] = []
        for r in records {
            guard let id = r.details[Key.drillID]?.stringValue else { continue }
            guard let k = entries.firstIndex(where: { $0.id == id }), k < lines.count else {
                problems.append("drill \(id) of \(r.time), recorded in the audit trail of \(repository), is missing from the history: its entry was removed")
                continue
            }
            if let h = r.details[Key.historyLineSHA256]?.stringValue, SHA256.hex(Array(lines[k].utf8)) != h {
                problems.append("history line \(k + 1) (\(id)) differs from the one recorded in the audit trail of \(repository): the history was rewritten")
            }
            if let sha = r.details[Key.reportSHA256]?.stringValue, entries[k].files["report.json"] != sha {
                problems.append("\(entries[k].report)/report.json of drill \(id) is not the report recorded in the audit trail of \(repository)")
            }
        }
        return problems
    }
}
