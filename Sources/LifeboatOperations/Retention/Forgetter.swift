import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Applies retention policies per source and deletes the manifests of snapshots that go.
/// Only manifests: the data they referenced stays until `prune`, which is what frees space
/// and makes deleted rows really unreadable.
public enum Forgetter {
    public struct Entry: Codable, Sendable {
        public var id: String
        public var time: String
        public var reasons: [String]
    }

    public struct Group: Codable, Sendable {
        public var source: String
        public var policy: String
        public var keep: [Entry]
        public var remove: [Entry]
    }

    /// Decides, per source, what is kept. Sources without a policy keep everything.
    public static func plan(_ records: [SnapshotRecord], policy: (String) -> RetentionPolicy?,
                            now: Date = Date(), timeZone: TimeZone = .current) -> [Group] {
        let bySource = Dictionary(grouping: records, by: { $0.manifest.source })
        return bySource.keys.sorted().map { source in
            let list = bySource[source] ?? []
            guard let p = policy(source), !p.isEmpty else {
                let keep = list.map { Entry(id: $0.id, time: RFC3339.format($0.manifest.time), reasons: ["no policy for this source"]) }
                return Group(source: source, policy: "keep everything (no policy)", keep: keep.reversed(), remove: [])
            }
            let decisions = p.apply(times: list.map(\.manifest.time), now: now, timeZone: timeZone)
            var keep: [Entry] = [], remove: [Entry] = []
            // Newest first, like `snapshots` reads in reverse.
            for d in decisions.reversed() {
                let r = list[d.index]
                let e = Entry(id: r.id, time: RFC3339.format(r.manifest.time), reasons: d.reasons)
                if d.keep { keep.append(e) } else { remove.append(e) }
            }
            return Group(source: source, policy: p.description, keep: keep, remove: remove)
        }
    }

    /// Deletes the manifests the plan removes; returns how many.
    public static func execute(_ repo: Repository, _ groups: [Group]) throws -> Int {
        var n = 0
        for g in groups {
            for e in g.remove {
                do {
                    try repo.backend.delete(ObjectKey(.snapshots, e.id))
                    n += 1
                } catch let err as LifeboatError where err.kind == .notFound {
                    continue  // forgotten meanwhile by another run
                }
            }
        }
        return n
    }
}
