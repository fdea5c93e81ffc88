import Foundation

/// Monotonic time for pacing and wall time for the stored commit times.
package enum Clock {
    package static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    package static func wallMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    package static func sleep(seconds: Double) {
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&ts, &remaining) != 0 && errno == EINTR { ts = remaining }
    }
}

/// Where a component reads the time of day: the system's clock, or one a test sets and moves,
/// so "after N seconds" (a lock going stale, a refresh keeping it fresh) is tested without
/// waiting N seconds.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    public static let system = WallClock { Date() }

    public var now: Date { read() }
}
