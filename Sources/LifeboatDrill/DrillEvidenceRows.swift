/// The evidence as label and value rows, shared by the Markdown and HTML reports.
package enum DrillEvidenceRows {
    package static func rows(_ e: DrillReport.Evidence) -> [[String]] {
        var rows: [[String]] = [
            ["Run by", e.identity ?? "not recorded"],
            ["Lifeboat version", e.lifeboatVersion],
            ["Binary SHA-256", e.binarySha256 ?? "could not be read"],
            ["Build commit", e.buildCommit ?? "not recorded by this build"],
            ["SQLite version", e.sqliteVersion ?? "unknown"],
            ["Scenario file SHA-256", e.scenarioSha256],
        ]
        for (name, id) in e.repositoryIds.sorted(by: { $0.key < $1.key }) { rows.append(["Repository id: \(name)", id]) }
        if let s = e.restoredSnapshot { rows.append(["Restored snapshot", s]) }
        if let d = e.restoredImageDigest { rows.append(["Image digest in its manifest", d]) }
        if let h = e.restoredFileSha256 { rows.append(["Restored file SHA-256", h + (e.restoredFileBytes.map { " (\($0) bytes)" } ?? "")]) }
        return rows
    }
}
