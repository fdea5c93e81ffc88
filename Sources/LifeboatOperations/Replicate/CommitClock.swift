import Foundation
import LifeboatCore

/// Dates commits to within about `period` of the moment SQLite made them visible, while the
/// WAL itself is read far less often (`SourceReplicator.Options.poll`).
///
/// SQLite's WAL frames carry no time. What does change at each commit is the header of the
/// wal-index (the `-shm` file): a committing writer stores the new last valid frame
/// (`mxFrame`) there right after the frames are written (and synced, with synchronous=FULL).
/// A thread reads that header (`WALIndexHeader`) every `period` and notes each change: (WAL
/// salts, mxFrame, time). A transaction read later is dated by the first note
/// that covers its commit frame, which is after its commit and at most a period (plus the
/// thread's scheduling delay) later. A transaction no note covers yet (the clock missed it,
/// or there is no -shm: `locking_mode=EXCLUSIVE`) is dated when read, as without the clock:
/// also after its commit, since the WAL is read only up to the visible mxFrame.
///
/// Dating late, never early, is the safe side: `restore --at T` never holds a transaction
/// committed after T; one committed less than a period before T may be left out.
final class CommitClock: @unchecked Sendable {
    // @unchecked: `notes` is behind its lock; the rest is the thread's own or immutable.
    struct Note: Equatable {
        var header: WALIndexHeader
        var timeMs: Int64
    }

    let databasePath: String
    let period: Double
    /// Notes kept at most; the oldest go first (a transaction then dates late, never early).
    let capacity: Int
    /// Notes from `head` on are live; the consumed prefix is dropped in bulk, not one by one.
    private let notes = Locked<(all: [Note], head: Int)>(([], 0))
    private let stopping = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    init(databasePath: String, period: Double = 0.01, capacity: Int = 100_000) {
        self.databasePath = databasePath
        self.period = period
        self.capacity = capacity
    }

    func start() {
        guard !started else { return }
        started = true
        let t = Thread { [self] in loop() }
        t.name = "commit clock"
        t.start()
    }

    func stop() {
        guard started else { return }
        stopping.withLock { $0 = true }
        finished.wait()
        started = false
    }

    /// Forgets every note (a new lineage: the database may have been replaced by one whose
    /// WAL carries the same salts, and its commits must not be dated by the old one's notes).
    func reset() {
        notes.withLock { $0 = ([], 0) }
    }

    /// When the commit that ends at `frames` frames of the WAL generation `salt1`/`salt2` was
    /// first seen, in Unix milliseconds; nil when no note covers it. Notes before it are let go
    /// (transactions are asked for in WAL order).
    func time(salt1: UInt32, salt2: UInt32, frames: UInt32) -> Int64? {
        notes.withLock { n -> Int64? in
            guard let i = n.all[n.head...].firstIndex(where: { $0.header.isGeneration(salt1, salt2) && $0.header.mxFrame >= frames }) else { return nil }
            n.head = i
            Self.compact(&n)
            return n.all[n.head].timeMs
        }
    }

    var noteCount: Int { notes.withLock { $0.all.count - $0.head } }

    private static func compact(_ n: inout (all: [Note], head: Int)) {
        if n.head >= 4096 && n.head * 2 >= n.all.count {
            n.all.removeFirst(n.head)
            n.head = 0
        }
    }

    private func loop() {
        defer { finished.signal() }
        let shmPath = databasePath + "-shm"
        var file: (fd: Int32, dev: UInt64, ino: UInt64)?
        var last: WALIndexHeader?
        var buffer = [UInt8](repeating: 0, count: 96)
        while !stopping.current {
            // Another file under the name (the database replaced, or SQLite rebuilt it): its
            // notes start afresh. Descriptors are never closed (see WALIndexHeader).
            var sb = stat()
            if stat(shmPath, &sb) != 0 {
                file = nil
            } else if file == nil || UInt64(sb.st_ino) != file?.ino || UInt64(sb.st_dev) != file?.dev {
                if file != nil { reset() }
                file = (try? DatabaseDescriptors.descriptor(for: shmPath)).map { ($0, UInt64(sb.st_dev), UInt64(sb.st_ino)) }
                last = nil
            }
            if let fd = file?.fd, let h = WALIndexHeader.read(fd: fd, into: &buffer), h != last {
                last = h
                let note = Note(header: h, timeMs: Date().unixMilliseconds)
                let capacity = self.capacity
                notes.withLock { n in
                    n.all.append(note)
                    if n.all.count - n.head > capacity { n.head = n.all.count - capacity }
                    Self.compact(&n)
                }
            }
            Thread.sleep(forTimeInterval: period)
        }
    }
}
