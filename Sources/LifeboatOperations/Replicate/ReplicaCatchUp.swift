import Foundation
import LifeboatCore
import LifeboatStorage

/// A replica that missed a snapshot (it failed while the snapshot was written) or segments
/// (its queue overflowed while it was down) is brought up to date from one that has them,
/// with `lifeboat sync`'s copy, once it answers again: in the background, one at a time.
final class ReplicaCatchUp: Sendable {
    private let needed = Locked<Set<String>>([])
    private let running = Locked(false)
    let log: ReplicationLog
    let source: String

    init(source: String, log: ReplicationLog) {
        self.source = source
        self.log = log
    }

    func mark(_ location: String) { needed.withLock { _ = $0.insert(location) } }

    var pending: Set<String> { needed.current }

    /// At stop: keeps catching up for up to `timeout` seconds; returns the replicas left behind.
    func finish(_ shippers: [SegmentShipper], timeout: Double) -> [String] {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            tick(shippers)
            if needed.current.isEmpty && !running.current { return [] }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return needed.current.sorted()
    }

    /// Starts one copy when a replica needs it and answers, from one that does not need it.
    func tick(_ shippers: [SegmentShipper]) {
        for s in shippers where s.progress.missed != nil { mark(s.location) }
        guard !running.current else { return }
        let want = needed.current
        guard let target = shippers.first(where: { want.contains($0.location) && $0.progress.failingSince == nil }),
              let from = shippers.first(where: { !want.contains($0.location) && $0.progress.failingSince == nil }) else { return }
        running.withLock { $0 = true }
        let log = log, needed = needed, running = running, source = source
        let t = Thread {
            defer { running.withLock { $0 = false } }
            do {
                let r = try Sync.run(from: from.backend, to: target.backend, workers: 2)
                needed.withLock { _ = $0.remove(target.location) }
                target.clearMissed()
                log.event("replica-synced", ["source": source, "replica": target.location, "from": from.location, "objects": "\(r.copied.values.reduce(0, +))"], important: true)
            } catch {
                log.event("replica-sync-failing", ["source": source, "replica": target.location, "error": (error as? LifeboatError)?.message ?? "\(error)",
                                                   "action": "retried; or run lifeboat sync"], important: true)
            }
        }
        t.name = "catch up \(target.location)"
        t.start()
    }
}
