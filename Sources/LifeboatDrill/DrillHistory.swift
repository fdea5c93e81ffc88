import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// One line of `history.jsonl` in the report directory: a drill's measured RTO and RPO, the
/// SHA-256 of each report file, and the SHA-256 of the previous line. The chain makes later
/// edits of a report or of the history detectable (`lifeboat drill history --verify`).
public struct DrillHistoryEntry: Codable, Sendable {
    public var time: String
    public var id: String
    public var scenario: String
    public var scenarioFile: String
    public var disaster: String
    public var outcome: String
    public var rtoSeconds: Double?
    public var rpoSeconds: Double?
    public var rtoTargetSeconds: Double
    public var rpoTargetSeconds: Double
    public var lostTransactions: Int?
    public var restoredFrom: String?
    /// Whether the RTO and RPO targets were met (absent in entries written before these fields).
    public var rtoMet: Bool? = nil
    public var rpoMet: Bool? = nil
    /// SHA-256 of the scenario file, which keys comparisons and trends (an edited scenario is a
    /// new series), and the source the drill recovered (`status` holds it against `drill_within`).
    /// Absent in entries written before them.
    public var scenarioSha256: String? = nil
    public var source: String? = nil
    /// Report directory, relative to the history file.
    public var report: String
    public var files: [String: String]
    public var prev: String
}

/// Writes a drill's report files and appends it to the history; reads and verifies the history.
public enum DrillArchive {
    public static let historyFile = "history.jsonl"

    public struct Written: Sendable {
        public var directory: String
        /// File name → SHA-256.
        public var files: [(name: String, sha256: String)]
        /// The drill's history line: its SHA-256 and its number (1-based).
        public var historyLineSHA256 = ""
        public var historyEntry = 0

        public var reportSHA256: String { files.first { $0.name == "report.json" }?.sha256 ?? "" }
    }

    /// Writes report.json, report.md, report.html and SHA256SUMS into a new directory under
    /// `reportDir`, then records their hashes in the history chain.
    /// With `signingKey`, report.json is also signed (report.json.sig, covered by SHA256SUMS and the history).
    /// The report gains its comparison with the previous run of the same scenario file.
    public static func write(_ report: DrillReport, to reportDir: String, anchor: String = DrillAnchor.defaultPath,
                             signingKey: SecretBytes? = nil) throws -> Written {
        try makeDirectory(reportDir)
        let history = try readHistory(reportDir)
        var report = report
        report.previous = DrillComparison.previous(for: report, in: history)
        let slug = String(report.scenario.name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
            .split(separator: "-").joined(separator: "-").prefix(48)
        let name = "\(report.id)-\(slug)"
        let dir = reportDir + "/" + name
        try makeDirectory(dir)

        let json = try report.encoded()
        let jsonSHA = SHA256.hex(json)
        let trend = history.filter { DrillComparison.sameSeries($0, report) } + [entry(report, dir: name, files: [:], prev: "")]
        let md = Array(DrillMarkdown.render(report, reportSHA256: jsonSHA, trend: trend).utf8)
        let html = Array(DrillHTML.render(report, reportSHA256: jsonSHA, trend: trend).utf8)
        var files: [(String, String)] = []
        var outputs = [("report.json", json), ("report.md", md), ("report.html", html)]
        if let signingKey { outputs.append((DrillSigning.signatureFile, try DrillSigning.signatureFileContent(json, key: signingKey))) }
        for (file, bytes) in outputs {
            try writeFile(dir + "/" + file, bytes)
            files.append((file, SHA256.hex(bytes)))
        }
        try writeFile(dir + "/SHA256SUMS", Array(files.map { "\($0.1)  \($0.0)\n" }.joined().utf8))

        let prevLine = try lastLine(reportDir)
        let e = entry(report, dir: name, files: Dictionary(uniqueKeysWithValues: files), prev: prevLine.map { SHA256.hex(Array($0.utf8)) } ?? "genesis")
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = String(decoding: try enc.encode(e), as: UTF8.self) + "\n"
        try append(reportDir + "/" + historyFile, Array(line.utf8))
        let all = try lines(reportDir + "/" + historyFile)
        try DrillAnchor.append(anchor, reportDir: reportDir, historyLines: all, id: report.id)
        return Written(directory: dir, files: files, historyLineSHA256: SHA256.hex(Array((all.last ?? "").utf8)), historyEntry: all.count)
    }

    package static func entry(_ r: DrillReport, dir: String, files: [String: String], prev: String) -> DrillHistoryEntry {
        DrillHistoryEntry(time: r.startedAt, id: r.id, scenario: r.scenario.name, scenarioFile: r.scenario.file,
                          disaster: r.disaster.kind, outcome: r.outcome.rawValue,
                          rtoSeconds: r.rto.achievedSeconds, rpoSeconds: r.rpo.achievedSeconds,
                          rtoTargetSeconds: r.targets.first { $0.measure == "RTO" }?.targetSeconds ?? 0,
                          rpoTargetSeconds: r.targets.first { $0.measure == "RPO" }?.targetSeconds ?? 0,
                          lostTransactions: r.rpo.lostTransactions,
                          restoredFrom: r.restoreAttempts.first { $0.ok }?.repository,
                          rtoMet: r.targets.first { $0.measure == "RTO" }?.met, rpoMet: r.targets.first { $0.measure == "RPO" }?.met,
                          scenarioSha256: r.scenario.fileSha256, source: r.scope.source,
                          report: dir, files: files, prev: prev)
    }

    public static func readHistory(_ reportDir: String) throws -> [DrillHistoryEntry] {
        let path = reportDir + "/" + historyFile
        guard FileIO.fileExists(path) else { return [] }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        var out: [DrillHistoryEntry] = []
        for (n, line) in try lines(path).enumerated() {
            do { out.append(try dec.decode(DrillHistoryEntry.self, from: Data(line.utf8))) } catch {
                throw LifeboatError(.corrupt, "\(path) line \(n + 1) is not a drill history entry; the history was edited or damaged")
            }
        }
        return out
    }

    /// Problems found: a broken chain link, a missing report file, a file whose hash changed,
    /// and a history that no longer matches its anchor (drills removed, lines rewritten).
    public static func verify(_ reportDir: String, anchor: String = DrillAnchor.defaultPath) throws -> [String] {
        let path = reportDir + "/" + historyFile
        guard FileIO.fileExists(path) else { return try DrillAnchor.verify(anchor, reportDir: reportDir, historyLines: []) }
        let all = try lines(path)
        let entries = try readHistory(reportDir)
        var problems: [String] = []
        for (n, e) in entries.enumerated() {
            let expected = n == 0 ? "genesis" : SHA256.hex(Array(all[n - 1].utf8))
            if e.prev != expected {
                problems.append("history line \(n + 1) (\(e.id)): the chain is broken; a line before it was changed, removed or inserted")
            }
            for (file, sha) in e.files.sorted(by: { $0.key < $1.key }) {
                let p = reportDir + "/" + e.report + "/" + file
                guard let bytes = try? FileIO.readFile(p) else {
                    problems.append("\(e.report)/\(file) is missing")
                    continue
                }
                if SHA256.hex(bytes) != sha { problems.append("\(e.report)/\(file) was changed after the drill (SHA-256 differs from the history)") }
            }
        }
        return problems + (try DrillAnchor.verify(anchor, reportDir: reportDir, historyLines: all))
    }

    package static func lines(_ path: String) throws -> [String] {
        String(decoding: try FileIO.readFile(path), as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    package static func lastLine(_ reportDir: String) throws -> String? {
        let path = reportDir + "/" + historyFile
        return FileIO.fileExists(path) ? try lines(path).last : nil
    }

    package static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw LifeboatError.posix(errno, "cannot create report directory", path: path)
        }
    }

    package static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot write report", path: path) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, bytes, path: path)
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync report", path: path) }
    }

    package static func append(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot append to", path: path) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, bytes, path: path)
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync", path: path) }
    }
}
