import Foundation

/// A value guarded by a lock, for the few pieces of state worker threads share.
// Unchecked: the compiler cannot see that the lock guards `value`; every access goes through it.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    public var current: Value { withLock { $0 } }
}

/// Carries non-Sendable per-thread state (cipher and compressor contexts, buffers) into
/// `concurrentPerform`. Safe because each worker index touches only its own element.
// Unchecked by design: that discipline is the caller's, and no type can express it.
public struct UnsafeTransfer<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

public enum Parallel {
    /// How many worker threads CPU-bound stages use: the number of cores, at most 8.
    public static var workerCount: Int { max(1, min(8, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Runs `body(worker)` on `workers` threads and rethrows the first error.
    ///
    /// Up to the number of cores, on libdispatch's pool (`concurrentPerform`). That pool is no
    /// wider than the machine, so more workers than cores (network fetches and uploads, which
    /// mostly wait) get threads of their own: with the pool, 8 S3 range reads ran 2 at a time.
    public static func run(workers: Int, _ body: @Sendable (Int) throws -> Void) throws {
        let firstError = Locked<Error?>(nil)
        let record: @Sendable (Error) -> Void = { e in firstError.withLock { if $0 == nil { $0 = e } } }
        if workers <= ProcessInfo.processInfo.activeProcessorCount {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                do { try body(w) } catch { record(error) }
            }
        } else {
            withoutActuallyEscaping(body) { body in
                // The threads reach `body` through a box emptied once all have finished with it,
                // so `body` does not outlive this call (a thread object may be freed later).
                let box = Locked<(@Sendable (Int) throws -> Void)?>(body)
                let finished = DispatchSemaphore(value: 0)
                for w in 1..<workers {
                    Thread {
                        do { try box.current?(w) } catch { record(error) }
                        finished.signal()
                    }.start()
                }
                do { try body(0) } catch { record(error) }
                for _ in 1..<workers { finished.wait() }
                box.withLock { $0 = nil }
            }
        }
        if let e = firstError.current { throw e }
    }

    /// Processes items 0..<count on `workers` threads, each thread pulling the next index.
    public static func forEach(count: Int, workers: Int, _ body: @Sendable (_ worker: Int, _ item: Int) throws -> Void) throws {
        let next = Locked(0)
        let failed = Locked(false)
        try run(workers: min(workers, max(count, 1))) { w in
            while true {
                if failed.current { return }
                let i: Int = next.withLock { n in defer { n += 1 }; return n }
                if i >= count { return }
                do { try body(w, i) } catch {
                    failed.withLock { $0 = true }
                    throw error
                }
            }
        }
    }
}
