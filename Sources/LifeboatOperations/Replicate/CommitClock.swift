import Foundation
import LifeboatCore

/// Dates commits to within about `period` of the moment SQLite made them visible, while the
/// WAL itself is read far less often (`SourceReplicator.Options.poll`).
///
/// SQLite's WAL frames carry no time. What does change at each commit is the header of the
/// wal-index (the `-shm` file): a committing writer stores the new last valid frame
/// (`mxFrame`) there right after the frames are written (and synced, with synchronous=FULL).
/// A thread reads that header every `period` with `pread` (not a mapping: SQLite truncates the
/// file when it rebuilds it, and a read past the end of a mapping is SIGBUS) and notes each
/// change: (WAL salts, mxFrame, time). A transaction read later is dated by the first note
/// that covers its commit frame, which is after its commit and at most a period (plus the
/// thread's scheduling delay) later. A transaction no note covers yet (the clock missed it,
/// or there is no -shm: `locking_mode=EXCLUSIVE`) is dated when read, as without the clock.
///
/// Dating late, never early, is the safe side: `restore --at T` never holds a transaction
/// committed after T; one committed less than a period before T may be left out.
final class CommitClock: @unchecked Sendable {
    // @unchecked: `notes` is behind its lock; the rest is the thread's own or immutable.
    struct Note: Equatable {
        var salt1: UInt32, salt2: UInt32, mxFrame: UInt32, timeMs: Int64
    }

    let shmPath: String
    let period: Double
    /// Notes kept at most; the oldest go first (a transaction then dates late, never early).
    let capacity: Int
    private let notes = Locked<[Note]>([])
    private let stopping = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    init(databasePath: String, period: Double = 0.01, capacity: Int = 100_000) {
        shmPath = databasePath + "-shm"
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

    /// When the commit that ends at `frames` frames of the WAL generation `salt1`/`salt2` was
    /// first seen, in Unix milliseconds; nil when no note covers it. Notes before it are let go
    /// (transactions are asked for in WAL order).
    func time(salt1: UInt32, salt2: UInt32, frames: UInt32) -> Int64? {
        notes.withLock { ns -> Int64? in
            guard let i = ns.firstIndex(where: { $0.salt1 == salt1 && $0.salt2 == salt2 && $0.mxFrame >= frames }) else { return nil }
            if i > 0 { ns.removeFirst(i) }
            return ns[0].timeMs
        }
    }

    var noteCount: Int { notes.current.count }

    private func loop() {
        defer { finished.signal() }
        var fd: Int32 = -1
        var inode: UInt64 = 0
        defer { if fd >= 0 { close(fd) } }
        var last: (UInt32, UInt32, UInt32)?
        var header = [UInt8](repeating: 0, count: 96)
        while !stopping.current {
            // Reopened when the -shm was replaced (the database replaced, or SQLite deleted it).
            var sb = stat()
            if stat(shmPath, &sb) != 0 {
                if fd >= 0 { close(fd); fd = -1 }
            } else if fd < 0 || UInt64(sb.st_ino) != inode {
                if fd >= 0 { close(fd) }
                fd = open(shmPath, O_RDONLY | O_CLOEXEC)
                inode = UInt64(sb.st_ino)
            }
            if fd >= 0, let h = Self.read(fd: fd, into: &header), last.map({ $0 != (h.0, h.1, h.2) }) ?? true {
                last = h
                let note = Note(salt1: h.0, salt2: h.1, mxFrame: h.2, timeMs: Date().unixMilliseconds)
                notes.withLock { ns in
                    if ns.count >= capacity { ns.removeFirst(ns.count - capacity + 1) }
                    ns.append(note)
                }
            }
            Thread.sleep(forTimeInterval: period)
        }
    }

    /// The wal-index header's WAL salts and last valid frame, when its two copies agree and it
    /// is initialised (SQLite writes the second copy first: a torn read shows them differ).
    static func read(fd: Int32, into buffer: inout [UInt8]) -> (UInt32, UInt32, UInt32)? {
        let n = buffer.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, 96, 0) }
        guard n == 96, buffer[0..<48] == buffer[48..<96], buffer[12] == 1 else { return nil }
        // mxFrame is in the machine's byte order; the salts are the WAL header's bytes as they are.
        let mxFrame = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self) }
        return (WALIndex.be32(buffer, 32), WALIndex.be32(buffer, 36), mxFrame)
    }
}
