import Foundation
import LifeboatCore
import LifeboatWorkload

/// RPO as committed work lost: every transaction the write load saw commit up to the moment the
/// disaster was declared and that the restored database lacks.
package enum DrillRPO {
    /// `committed` is the load's own log (oldest first); `present` the marker seqs restored.
    /// After `statementAfterSeq` (a mistaken statement), lost transactions were rolled back by
    /// choice; the others were lost because no backup held them.
    package static func count(committed: [WriteLoad.Committed], present: Set<Int64>, statementAfterSeq: Int64?,
                              loadStartedMs: Int64) -> DrillReport.RPORecord {
        let iso = { (ms: Int64) in RFC3339.format(Date(unixMilliseconds: ms), fractional: true) }
        guard let last = committed.last else {
            return .init(method: "markers", achievedSeconds: 0, lostTransactions: 0, lastCommittedBeforeDisaster: nil, newestRestored: nil,
                         detail: "the write load committed nothing before the disaster was declared",
                         committedTransactions: 0, lostByBackup: 0, lostByChoice: 0)
        }
        let lost = committed.filter { !present.contains($0.seq) }
        let byChoice = statementAfterSeq.map { after in lost.filter { $0.seq > after }.count } ?? 0
        let oldestByBackup = lost.first { statementAfterSeq == nil || $0.seq <= statementAfterSeq ?? 0 }
        let newestRestored = committed.last { present.contains($0.seq) }
        var seconds = 0.0
        if let oldest = lost.first, let newest = lost.last {
            // The loss window opens at the newest transaction kept before the first one lost.
            let anchor = committed.last { $0.seq < oldest.seq && present.contains($0.seq) }?.ms ?? loadStartedMs
            seconds = Double(max(0, newest.ms - anchor)) / 1000
        }
        let choiceText = statementAfterSeq == nil ? "" : ", \(byChoice) lost by choice (committed after the statement, rolled back by the point-in-time restore)"
        return .init(method: "markers", achievedSeconds: seconds, lostTransactions: lost.count,
                     lastCommittedBeforeDisaster: iso(last.ms), newestRestored: newestRestored.map { iso($0.ms) },
                     detail: "\(lost.count) of the \(committed.count) transactions committed when the disaster was declared are missing from the restored database: \(lost.count - byChoice) lost by the backup\(choiceText); the lost work spans \(DrillFormat.seconds(seconds))",
                     committedTransactions: committed.count, lostByBackup: lost.count - byChoice, lostByChoice: byChoice,
                     oldestLostByBackup: oldestByBackup.map { iso($0.ms) })
    }
}
