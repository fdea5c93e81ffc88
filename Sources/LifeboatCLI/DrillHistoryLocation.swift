import Foundation
import LifeboatCore
import LifeboatOperations
import LifeboatDrill

/// Where drill reports and their history live, for `drill run`, `drill history` and `status`:
/// the flag, else $LIFEBOAT_DRILL_REPORTS, else the config's `drill_history`, else
/// ./drill-reports. A path to the history file itself names its directory.
enum DrillHistoryLocation {
    static func directory(flag: String?, config: LifeboatConfig?) -> String {
        let path = flag ?? ProcessInfo.environmentValue("LIFEBOAT_DRILL_REPORTS") ?? config?.drillHistory ?? "drill-reports"
        guard (path as NSString).lastPathComponent == DrillArchive.historyFile else { return path }
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// The drills recorded in a report directory, as `status` needs them; none when it has no
    /// history yet. A history that does not parse is warned about and read as empty, so a
    /// damaged drill record cannot stop the RPO checks (and makes a `drill_within` overdue).
    static func drills(in directory: String) -> [DrillStatus.Drill] {
        do {
            return try DrillArchive.readHistory(directory).map {
                DrillStatus.Drill(id: $0.id, time: $0.time, scenario: $0.scenario, scenarioFile: $0.scenarioFile, source: $0.source, outcome: $0.outcome)
            }
        } catch let e as LifeboatError {
            Warnings.emit("drill history not read: \(e.message); check it with 'lifeboat drill history --verify --report-dir \(directory)'")
        } catch {
            Warnings.emit("drill history in \(directory) not read: \(error)")
        }
        return []
    }

    static func exists(_ directory: String) -> Bool { FileIO.fileExists(directory + "/" + DrillArchive.historyFile) }
}
