import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// `check`'s part for `replicate`'s segments: per source, no gap between the kept snapshots'
/// lineages and their newest transaction (ReplicationTimeline); with `readData`, every segment
/// downloaded and opened (its SHA-256, authentication, and that it holds what its name says).
struct SegmentCheck {
    var segments = 0
    var errors: [String] = []
    var damagedObjects: [String] = []
    var unreadable: [String] = []

    init(repo: Repository, sources: Set<String>, readData: Bool) {
        for source in sources.sorted() {
            do {
                let timeline = try ReplicationTimeline.build(repo, source: source)
                for g in timeline.gaps {
                    errors.append("transactions \(g.missingFrom)–\(g.missingTo) of source '\(source)' (lineage \(g.lineage)) are missing, between \(g.after) and \(g.before): copy them from a replica with 'lifeboat sync'")
                }
                let names = try repo.listSegments(source: source)
                segments += names.count
                guard readData else { continue }
                for n in names {
                    do { _ = try repo.loadSegment(n, source: source) } catch let e as LifeboatError where e.provesDamage {
                        errors.append(e.message)
                        damagedObjects.append(n.key.path)
                    } catch let e as LifeboatError {
                        unreadable.append("segment \(n.firstSeq)-\(n.lastSeq) of '\(source)': \(e.message)")
                    }
                }
            } catch let e as LifeboatError {
                unreadable.append("segments of '\(source)': \(e.message)")
            } catch {
                unreadable.append("segments of '\(source)': \(error)")
            }
        }
    }
}
