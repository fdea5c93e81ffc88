import Foundation
import LifeboatCore

/// Bounded retries with exponential backoff and jitter, for transient network faults
/// (timeouts, resets, 5xx, SlowDown). Both the number of attempts and the total time are
/// capped, so an unreachable endpoint fails in predictable time instead of hanging a cron job.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    /// First delay; doubles each attempt up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double
    /// No new attempt starts after this many seconds since the first one.
    public var maxTotal: Double

    public init(maxAttempts: Int = 6, baseDelay: Double = 0.25, maxDelay: Double = 8, maxTotal: Double = 60) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxTotal = maxTotal
    }

    public static let once = RetryPolicy(maxAttempts: 1)

    /// Delay before attempt `attempt + 1` (attempt counts from 1): half fixed, half random
    /// ("equal jitter"), so many clients that failed together do not retry together.
    public func delay(afterAttempt attempt: Int) -> Double {
        let exp = baseDelay * pow(2, Double(min(attempt - 1, 30)))
        let cap = min(maxDelay, exp)
        return cap / 2 + Double.random(in: 0...(cap / 2))
    }

    /// Whether another attempt may start, given the time spent so far and the next delay.
    public func allowsAnother(after attempt: Int, elapsed: Double, delay: Double) -> Bool {
        attempt < maxAttempts && elapsed + delay < maxTotal
    }
}
