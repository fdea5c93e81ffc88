import Foundation
import LifeboatCore

/// A second record of each drill history, kept away from the report directory: after every
/// drill, the history's length and the SHA-256 of its newest line are appended to an anchor
/// file (default ~/.local/state/lifeboat/drill-anchors.jsonl). Whoever rewrites the report
/// directory (drops the last drill, or edits a report and recomputes SHA256SUMS and the chain)
/// no longer matches it; `drill history --verify` cross-checks the two.
public enum DrillAnchor {
    public static var defaultPath: String {
        if let p = ProcessInfo.environmentValue("LIFEBOAT_DRILL_ANCHOR") { return p }
        if let s = ProcessInfo.environmentValue("XDG_STATE_HOME") { return s + "/lifeboat/drill-anchors.jsonl" }
        let home = ProcessInfo.environmentValue("HOME") ?? NSHomeDirectory()
        return home + "/.local/state/lifeboat/drill-anchors.jsonl"
    }

    struct Line: Codable {
        var reportDir: String
        var entries: Int
        var head: String
        var id: String
        var time: String
    }

    /// The report directory as the anchor names it: absolute, symlinks resolved.
    static func key(_ reportDir: String) -> String {
        URL(fileURLWithPath: reportDir).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func append(_ anchorPath: String, reportDir: String, historyLines: [String], id: String) throws {
        let dir = (anchorPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let line = Line(reportDir: key(reportDir), entries: historyLines.count, head: SHA256.hex(Array((historyLines.last ?? "").utf8)),
                        id: id, time: RFC3339.format(Date(), fractional: true))
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try DrillArchive.append(anchorPath, Array(enc.encode(line)) + [0x0a])
    }

    /// Problems found when the history is held against the anchor.
    static func verify(_ anchorPath: String, reportDir: String, historyLines: [String]) throws -> [String] {
        let k = key(reportDir)
        guard FileIO.fileExists(anchorPath) else {
            return historyLines.isEmpty ? [] : ["the history is not anchored: \(anchorPath) does not exist (give the anchor with --anchor, or it was removed)"]
        }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let anchors = try DrillArchive.lines(anchorPath).compactMap { try? dec.decode(Line.self, from: Data($0.utf8)) }.filter { $0.reportDir == k }
        guard let newest = anchors.max(by: { $0.entries < $1.entries }) else {
            return historyLines.isEmpty ? [] : ["the history is not anchored: \(anchorPath) holds no record of \(k)"]
        }
        var problems: [String] = []
        if historyLines.count < newest.entries {
            problems.append("the history has \(historyLines.count) drill(s) but \(anchorPath) recorded \(newest.entries) (the last \(newest.id)): drills were removed")
        }
        for a in anchors where a.entries <= historyLines.count && SHA256.hex(Array(historyLines[a.entries - 1].utf8)) != a.head {
            problems.append("history line \(a.entries) (\(a.id)) differs from the one anchored in \(anchorPath): the history was rewritten")
        }
        if historyLines.count > newest.entries {
            problems.append("history lines \(newest.entries + 1)–\(historyLines.count) are not in \(anchorPath): added without a drill run, or the anchor could not be written")
        }
        return problems
    }
}
