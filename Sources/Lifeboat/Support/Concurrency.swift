import Foundation

/// A value guarded by a lock, for the few pieces of state worker threads share.
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
public struct UnsafeTransfer<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

public enum Parallel {
    /// How many worker threads CPU-bound stages use: the number of cores, at most 8.
    public static var workerCount: Int { max(1, min(8, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Runs `body(worker)` on `workers` threads and rethrows the first error.
    public static func run(workers: Int, _ body: @Sendable (Int) throws -> Void) throws {
        let firstError = Locked<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            do { try body(w) } catch { firstError.withLock { if $0 == nil { $0 = error } } }
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
