import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Ships sealed segments to one replica, in order, on a thread of its own: a slow or frozen
/// replica holds back only itself. A failed PUT is retried (1 s, doubling to 30 s) for as
/// long as it takes; while a replica fails, its queue grows up to `queueLimit` bytes, after
/// which it is dropped and the replica marked behind (the others carry on; it copies what it
/// missed from them once it answers again, or `lifeboat sync` does).
final class SegmentShipper: @unchecked Sendable {
    // @unchecked: every mutable field is behind `state`'s lock or only touched by `thread`.
    struct Progress: Sendable {
        var lineage: String?
        /// The newest sequence stored in this replica, of `lineage`.
        var durableSeq: UInt64 = 0
        var durableTimeMs: Int64 = 0
        var queued = 0
        var queuedBytes = 0
        var failingSince: Date?
        var lastError: String?
        /// Sequences dropped from the queue (replica too slow): copied from another replica later.
        var missed: ClosedRange<UInt64>?
        var segmentsStored = 0
        var bytesStored = 0
    }

    let backend: any Backend
    let queueLimit: Int
    private let state = Locked(Progress())
    private let queue = Locked<[SealedSegment]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Locked(false)
    /// Set by `abandon`: a PUT in flight then finishes or fails, and nothing more is tried.
    private let abandoned = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private let log: ReplicationLog
    private let sleeper: @Sendable (Double) -> Void

    init(backend: any Backend, queueLimit: Int, log: ReplicationLog, sleeper: @escaping @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }) {
        self.backend = backend
        self.queueLimit = queueLimit
        self.log = log
        self.sleeper = sleeper
    }

    var location: String { backend.location }
    var progress: Progress { state.current }

    /// Where this replica stands before anything is shipped (a resumed lineage).
    func setDurable(lineage: String, seq: UInt64, timeMs: Int64) {
        state.withLock { $0.lineage = lineage; $0.durableSeq = seq; $0.durableTimeMs = timeMs }
    }

    func start() {
        let t = Thread { [self] in loop() }
        t.name = "ship \(backend.location)"
        t.start()
    }

    /// Queues a segment. False when the queue is full (the replica is behind): the caller
    /// decides whether to wait (no replica can take it) or let this one fall behind.
    @discardableResult
    func enqueue(_ s: SealedSegment, dropIfFull: Bool) -> Bool {
        let full = state.withLock { $0.queuedBytes + s.bytes.count > queueLimit && $0.queued > 0 }
        if full {
            guard dropIfFull else { return false }
            state.withLock { p in
                let first = p.missed?.lowerBound ?? s.name.firstSeq
                p.missed = first...s.name.lastSeq
            }
            return true
        }
        queue.withLock { $0.append(s) }
        state.withLock { $0.queued += 1; $0.queuedBytes += s.bytes.count }
        wake.signal()
        return true
    }

    func clearMissed() { state.withLock { $0.missed = nil } }

    var isFull: Bool { state.withLock { $0.queuedBytes >= queueLimit } }

    /// Whether everything queued is stored (or dropped).
    var idle: Bool { state.withLock { $0.queued == 0 } }

    /// Drops what waits and stops at once, as a host going down would (drills' disasters).
    func abandon() {
        abandoned.withLock { $0 = true }
        queue.withLock { $0.removeAll() }
        state.withLock { $0.queued = 0; $0.queuedBytes = 0 }
        stopping.withLock { $0 = true }
        wake.signal()
    }

    /// Stops once the queue is empty, or after `timeout` seconds; false if segments were left.
    func stop(timeout: Double) -> Bool {
        stopping.withLock { $0 = true }
        wake.signal()
        return finished.wait(timeout: .now() + timeout) == .success && idle
    }

    private func loop() {
        defer { finished.signal() }
        var delay = 1.0
        while true {
            guard let next = queue.withLock({ $0.first }) else {
                if stopping.current { return }
                _ = wake.wait(timeout: .now() + 0.5)
                continue
            }
            do {
                let t0 = Clock.monotonic()
                do { try backend.put(next.key, next.bytes) } catch let e as LifeboatError where e.kind == .exists {}
                let seconds = Clock.monotonic() - t0
                // A store slower than a second holds up every segment behind it: the lag's why.
                if seconds > 1 {
                    log.event("slow-store", ["replica": backend.location, "segment": "\(next.name.lastSeq)", "bytes": "\(next.bytes.count)",
                                             "seconds": String(format: "%.2f", seconds)], important: true)
                }
                // `abandon` may have emptied the queue while this PUT ran: it was its first
                // segment, and the counts were reset with it.
                let wasQueued = queue.withLock { q -> Bool in
                    guard q.first?.name == next.name else { return false }
                    q.removeFirst()
                    return true
                }
                let recovered = state.withLock { p -> Bool in
                    let was = p.failingSince != nil
                    if wasQueued {
                        p.queued -= 1
                        p.queuedBytes -= next.bytes.count
                    }
                    p.lineage = next.name.lineage
                    p.durableSeq = next.name.lastSeq
                    p.durableTimeMs = next.name.lastTimeMs
                    p.failingSince = nil
                    p.segmentsStored += 1
                    p.bytesStored += next.bytes.count
                    return was
                }
                if recovered { log.event("replica-recovered", ["replica": backend.location]) }
                delay = 1.0
            } catch {
                let message = (error as? LifeboatError)?.message ?? "\(error)"
                let first = state.withLock { p -> Bool in
                    defer { if p.failingSince == nil { p.failingSince = Date() }; p.lastError = message }
                    return p.failingSince == nil
                }
                if first { log.event("replica-failing", ["replica": backend.location, "error": message, "action": "retrying; other replicas carry on"]) }
                if abandoned.current || (stopping.current && delay >= 8) { return }
                sleeper(delay)
                delay = min(delay * 2, 30)
            }
        }
    }
}
