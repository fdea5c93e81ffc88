import Foundation
import LifeboatCore

/// The facts that tie a report's figures to what ran and what came back: the binary, SQLite,
/// the scenario file, the repositories' ids and the restored file's hash. Collected before the
/// scratch directory goes.
extension DrillRunner {
    package func collectEvidence(_ state: DrillState) -> DrillReport.Evidence {
        var ids: [String: String] = [:]
        for r in state.setup.repositories { if let id = r.repository?.config.id { ids[r.spec.name] = id } }
        let restored = state.recovery.restored
        if let r = restored { ids[r.repository] = r.repositoryID }
        let file = restored.flatMap { Self.fileSHA256($0.path) }
        let sqlite = (try? SQLiteConnection(path: ":memory:").scalar("SELECT sqlite_version()"))??.text
        return .init(lifeboatVersion: LifeboatVersion.current, identity: options.initiator.shown, binarySha256: Self.fileSHA256("/proc/self/exe")?.hex,
                     buildCommit: BuildInfo.commitOrUnknown, sqliteVersion: sqlite, scenarioSha256: scenario.fileSHA256, repositoryIds: ids,
                     restoredSnapshot: restored?.result.snapshot, restoredImageDigest: restored?.imageDigest,
                     restoredFileSha256: file?.hex, restoredFileBytes: file?.bytes)
    }

    /// Streams the file through SHA-256 in 1 MiB reads; nil when it cannot be read.
    package static func fileSHA256(_ path: String) -> (hex: String, bytes: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let hash = try? SHA256Stream() else { return nil }
        var total = 0
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch { return nil }
            // Foundation on Linux answers nil, not empty data, at the end of the file.
            guard let chunk, !chunk.isEmpty else { break }
            total += chunk.count
            chunk.withUnsafeBytes { hash.update($0) }
        }
        return (Hex.encode(hash.finish()), total)
    }
}
