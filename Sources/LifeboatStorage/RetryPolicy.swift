import Foundation
import LifeboatCore

/// Retries with exponential backoff and jitter, for transient network faults (timeouts,
/// resets, 5xx, SlowDown). One deadline bounds them: attempts go on until `maxTotal` seconds
/// (LIFEBOAT_S3_RETRY_SECONDS) have passed since the first, so an unreachable endpoint fails
/// in predictable time instead of hanging a cron job, and a slow one gets the whole budget.
/// `maxAttempts` is no cap by default; `.once` uses it for requests that must not repeat.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    /// First delay; doubles each attempt up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double
    /// No new attempt starts after this many seconds since the first one.
    public var maxTotal: Double

    public init(maxAttempts: Int = .max, baseDelay: Double = 0.25, maxDelay: Double = 8, maxTotal: Double = 60) {
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

    /// The pause before another attempt, given the attempts made and the seconds spent since
    /// the first; nil when none may follow. A pause that would run past the deadline is cut
    /// short, so the last attempt starts at the deadline instead of the budget going unused.
    public func nextDelay(afterAttempt attempt: Int, elapsed: Double) -> Double? {
        guard attempt < maxAttempts, elapsed < maxTotal else { return nil }
        return min(delay(afterAttempt: attempt), maxTotal - elapsed)
    }
}

/// What one endpoint's requests have spent of the retry budget, shared by all of them (every
/// thread of a run). When one request gives up, the others stop retrying too, for the length of
/// one budget: an endpoint that let requests run into their timeout is not asked again in that
/// time (a lock release and an audit record used to wait a whole budget each against a frozen
/// server, so a run that "gave up in 65 s" exited after 198 s); one that answered with errors
/// or broke connections off, which fails fast, gets a single attempt per request. So a run
/// fails within its budget and one request timeout.
package final class RetryBudget: @unchecked Sendable {
    package enum Admission {
        /// Retry as the policy says.
        case retries
        /// One attempt, no retries: another request gave up on an endpoint that fails fast.
        case single
        /// Do not send: another request gave up on an endpoint that lets requests time out.
        case refused(LifeboatError)
    }

    private struct GaveUp {
        var at: Date
        var window: Double
        /// The error of a request whose last attempt timed out; nil when it failed fast.
        var silence: LifeboatError?
    }

    private let state = Locked<GaveUp?>(nil)

    package init() {}

    package func admission(now: Date = Date()) -> Admission {
        guard let g = state.current, now.timeIntervalSince(g.at) < g.window else { return .retries }
        if let silence = g.silence { return .refused(silence) }
        return .single
    }

    /// A request gave up after spending the budget (`window` seconds); `silence` is its error
    /// when its last attempt timed out.
    package func gaveUp(window: Double, silence: LifeboatError?, now: Date = Date()) {
        state.withLock { g in
            // A silent endpoint stays refused even if a request that got answers gives up later.
            let silence = silence ?? g.flatMap { now.timeIntervalSince($0.at) < $0.window ? $0.silence : nil }
            g = GaveUp(at: now, window: window, silence: silence)
        }
    }
}
