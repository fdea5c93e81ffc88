import ArgumentParser
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `--object-lock MODE --retain DAYS`: S3 Object Lock for the objects a run writes.
struct ObjectLockOptions: ParsableArguments {
    @Option(name: .customLong("object-lock"), help: ArgumentHelp(
        "Lock every object written in S3 (compliance or governance); needs --retain. On init it is stored in the repository and applies to every later run.",
        valueName: "mode"))
    var mode: String?

    @Option(name: .customLong("retain"), help: ArgumentHelp("Days each object stays locked (with --object-lock).", valueName: "days"))
    var retain: String?

    func policy() throws -> ObjectLockPolicy? {
        try ObjectLockPolicy.parse(mode: mode, retain: retain)
    }

    /// Overrides the repository's stored policy for this run when flags were given.
    func apply(to backend: any Backend, stored: ObjectLockPolicy?, configured: ObjectLockPolicy? = nil, bypassGovernance: Bool = false) throws {
        let chosen = try policy() ?? configured ?? stored
        if chosen != stored || bypassGovernance {
            applyObjectLock(ObjectLockRuntime(policy: chosen, bypassGovernance: bypassGovernance), to: backend)
        }
    }
}

/// Tells the user which objects were read from versions an S3 delete marker hid: someone
/// deleted them (an attacker?) and Object Lock (versioning) kept them.
func reportDeleteMarkerReads(_ backend: any Backend) {
    for (location, count) in backend.readsBehindDeleteMarkers.sorted(by: { $0.key < $1.key }) {
        Warnings.emit("\(count) object(s) in \(location) were deleted (delete markers) and read from their retained versions; find out who deleted them, then restore them with 'lifeboat sync' to a new copy")
    }
}

/// The retain-until state `check` reports for each S3 copy.
enum ObjectLockReport {
    static func status(of backend: any Backend) throws -> [ObjectLockStatus]? {
        let all = try backend.objectLockStatus()
        return all.isEmpty ? nil : all
    }

    static func line(_ s: ObjectLockStatus) -> String {
        guard s.enabled else {
            return "object lock: \(s.location): not enabled on the bucket (\(s.unlocked) object(s) unlocked)"
        }
        var text = "object lock: \(s.location): \(s.locked) object(s) locked"
        if let first = s.earliestRetainUntil, let last = s.latestRetainUntil {
            text += " (\(s.modes.joined(separator: ", "))) until \(first)\(first == last ? "" : " … \(last)")"
        }
        text += ", \(s.unlocked) not locked"
        if s.hiddenByDeleteMarker > 0 { text += ", \(s.hiddenByDeleteMarker) deleted by key but kept (delete markers)" }
        return text
    }
}
