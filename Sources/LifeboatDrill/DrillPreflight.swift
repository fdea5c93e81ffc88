import Foundation
import LifeboatCore

/// Checks, before anything starts, that the paths a scenario names exist: a scenario shipped as
/// a template (the annual drill) then stops with what to edit, and files no failed report.
extension DrillRunner {
    public func preflight() throws {
        var missing: [String] = []
        switch scenario.source.origin {
        case .live(let path) where try FileIO.status(path)?.isRegularFile != true:
            missing.append("source.live \(path) is not a database file: edit source.live to your database")
        case .copy(let path) where try FileIO.status(path)?.isRegularFile != true:
            missing.append("source.copy \(path) is not a database file: edit source.copy to your database")
        default: break
        }
        for r in scenario.repositories {
            // Only local locations can be checked here; an S3 one answers when it is opened.
            guard let location = r.location, !location.contains(":") else { continue }
            if !FileIO.fileExists(location + "/config") {
                missing.append("repository '\(r.name)' (line \(r.line)) has no repository at \(location): edit its location")
            }
        }
        guard missing.isEmpty else {
            throw LifeboatError(.usage, "\(scenario.file) names paths that do not exist, so the drill did not start: " + missing.joined(separator: "; "))
        }
    }
}
