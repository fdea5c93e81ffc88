import Foundation
import LifeboatCore

/// The one thread that writes a restore's runs of consecutive pages: the decoding workers fill
/// run buffers, hand them over and go on decoding.
///
/// File systems serialise writes to one file on its inode lock. With every worker writing for
/// itself, a third of a restore's system time was spent spinning on that lock; one writer
/// takes it uncontended (1 GiB restored in 1.9-2.2 s instead of 2.5-2.8 on this 2-core VM).
/// Writeback is started every 64 MiB, so the fsync before the rename finds little left.
final class RunWriter: @unchecked Sendable { // state guarded by `cond`
    private let fd: Int32
    private let path: String
    private let cond = NSCondition()
    private let all: [UnsafeMutableRawBufferPointer]
    private var free: [UnsafeMutableRawBufferPointer]
    private var queue: [(buffer: UnsafeMutableRawBufferPointer, offset: Int, bytes: Int)] = []
    private var failure: Error?
    private var closing = false
    private var running = true
    private var unflushed = 0

    /// `buffers` run buffers of `bufferBytes` each.
    init(fd: Int32, path: String, buffers: Int, bufferBytes: Int) {
        self.fd = fd
        self.path = path
        all = (0..<max(1, buffers)).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: bufferBytes, alignment: 4096) }
        free = all
        let thread = Thread { [self] in loop() }
        thread.name = "lifeboat-restore-writer"
        thread.start()
    }

    deinit { all.forEach { $0.deallocate() } }

    /// An empty run buffer; waits while every one is queued. Throws the writer's failure.
    func take() throws -> UnsafeMutableRawBufferPointer {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty && failure == nil { cond.wait() }
        if let failure { throw failure }
        return free.removeLast()
    }

    /// Returns a buffer from `take` unused.
    func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        cond.lock()
        free.append(buffer)
        cond.broadcast()
        cond.unlock()
    }

    /// Queues the first `bytes` of `buffer` (from `take`) for `offset`; the buffer comes back
    /// to the free ones once written.
    func submit(_ buffer: UnsafeMutableRawBufferPointer, offset: Int, bytes: Int) {
        cond.lock()
        queue.append((buffer, offset, bytes))
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until everything queued is written and the thread has ended; throws the first
    /// write's failure.
    func finish() throws {
        cond.lock()
        defer { cond.unlock() }
        closing = true
        cond.broadcast()
        while running { cond.wait() }
        if let failure { throw failure }
    }

    /// Ends the thread after the write in progress, dropping what is queued (the restore
    /// failed anyway).
    func abandon() {
        cond.lock()
        defer { cond.unlock() }
        closing = true
        queue.removeAll()
        cond.broadcast()
        while running { cond.wait() }
    }

    private func loop() {
        while true {
            cond.lock()
            while queue.isEmpty && !closing { cond.wait() }
            if queue.isEmpty || failure != nil {
                running = false
                cond.broadcast()
                cond.unlock()
                return
            }
            let run = queue.removeFirst()
            cond.unlock()
            var error: Error?
            do {
                try FileIO.pwriteAll(fd: fd, UnsafeRawBufferPointer(rebasing: run.buffer[0..<run.bytes]), offset: run.offset, path: path)
                unflushed += run.bytes
                if unflushed >= 64 << 20 {
                    unflushed = 0
                    FileIO.startWriteback(fd: fd)
                }
            } catch let e {
                error = e
            }
            cond.lock()
            free.append(run.buffer)
            if let error, failure == nil { failure = error }
            cond.broadcast()
            cond.unlock()
        }
    }
}
