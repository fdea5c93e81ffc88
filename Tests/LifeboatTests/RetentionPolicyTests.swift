import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Retention against a table of snapshot times, with the keep sets worked out by hand from
/// restic's rules (newest first; one per period; a bucket with counts left keeps the oldest;
/// --keep-within counts back from the newest snapshot that is not in the future).
final class RetentionPolicyTests: XCTestCase {
    static func t(_ s: String) -> Date {
        guard let d = RFC3339.parse(s) else { fatalError("bad time \(s)") }
        return d
    }

    // Deliberately not sorted: the policy must not depend on input order.
    let table: [(String, Date)] = [
        ("t4", t("2024-03-09T10:00:00Z")),
        ("t1", t("2024-03-10T23:30:00Z")),
        ("t2", t("2024-03-10T22:10:00Z")),
        ("t3", t("2024-03-10T22:05:00Z")),
        ("t5", t("2024-03-09T09:00:00Z")),
        ("t6", t("2024-03-08T12:00:00Z")),
        ("t7", t("2024-03-01T12:00:00Z")),   // ISO week 9; t1...t6 are week 10
        ("t8", t("2024-02-15T12:00:00Z")),
        ("t9", t("2024-01-20T12:00:00Z")),
        ("t10", t("2023-12-31T12:00:00Z")),
        ("t11", t("2023-06-01T12:00:00Z")),
    ]
    let now = t("2024-03-11T08:00:00Z")
    let utc = TimeZone(identifier: "UTC") ?? .current

    func kept(_ p: RetentionPolicy, now: Date? = nil, zone: TimeZone? = nil) -> Set<String> {
        let decisions = p.apply(times: table.map(\.1), now: now ?? self.now, timeZone: zone ?? utc)
        return Set(decisions.filter(\.keep).map { table[$0.index].0 })
    }

    func testPoliciesAgainstTable() throws {
        let cases: [(String, RetentionPolicy, Set<String>)] = [
            ("last 2", RetentionPolicy(last: 2), ["t1", "t2"]),
            ("hourly 3", RetentionPolicy(hourly: 3), ["t1", "t2", "t4"]),
            ("daily 3", RetentionPolicy(daily: 3), ["t1", "t4", "t6"]),
            ("weekly 2", RetentionPolicy(weekly: 2), ["t1", "t7"]),
            ("monthly 3", RetentionPolicy(monthly: 3), ["t1", "t8", "t9"]),
            // Counts left at the end: the oldest is kept too.
            ("yearly 5", RetentionPolicy(yearly: 5), ["t1", "t10", "t11"]),
            ("daily 100", RetentionPolicy(daily: 100), ["t1", "t4", "t6", "t7", "t8", "t9", "t10", "t11"]),
            ("daily all", RetentionPolicy(daily: -1), ["t1", "t4", "t6", "t7", "t8", "t9", "t10", "t11"]),
            ("within 2d", RetentionPolicy(within: CalendarSpan(days: 2)), ["t1", "t2", "t3", "t4", "t5"]),
            ("within 1m", RetentionPolicy(within: CalendarSpan(months: 1)), ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]),
            ("last 1 + monthly 2", RetentionPolicy(last: 1, monthly: 2), ["t1", "t8"]),
            ("daily 2 + weekly 2 + yearly 1", RetentionPolicy(daily: 2, weekly: 2, yearly: 1), ["t1", "t4", "t7"]),
            ("empty keeps all", RetentionPolicy(), Set(table.map(\.0))),
        ]
        for (name, policy, expected) in cases {
            XCTAssertEqual(kept(policy), expected, name)
        }
    }

    func testReasonsAreReported() {
        let d = RetentionPolicy(last: 1, daily: 2).apply(times: table.map(\.1), now: now, timeZone: utc)
        let t1 = d.first { table[$0.index].0 == "t1" }
        XCTAssertEqual(t1?.reasons, ["last", "daily"])
        let t3 = d.first { table[$0.index].0 == "t3" }
        XCTAssertEqual(t3?.keep, false)
        XCTAssertEqual(t3?.reasons, [])
    }

    func testPeriodsFollowTheTimeZone() throws {
        let berlin = try XCTUnwrap(TimeZone(identifier: "Europe/Berlin"))
        // 23:30 UTC on 10 March is 00:30 on 11 March in Berlin: a day of its own there.
        XCTAssertEqual(kept(RetentionPolicy(daily: 2), zone: berlin), ["t1", "t2"])
        XCTAssertEqual(kept(RetentionPolicy(daily: 2)), ["t1", "t4"])
    }

    func testWithinCountsFromNewestSnapshotNotInTheFuture() {
        // "now" before t1..t3: the newest snapshot not in the future is t4 (9 March 10:00).
        let early = Self.t("2024-03-10T00:00:00Z")
        XCTAssertEqual(kept(RetentionPolicy(within: CalendarSpan(days: 1)), now: early), ["t1", "t2", "t3", "t4", "t5", "t6"])
        // And a source that stopped being backed up keeps its history: within is relative to
        // its newest snapshot, not to now.
        let muchLater = Self.t("2030-01-01T00:00:00Z")
        XCTAssertEqual(kept(RetentionPolicy(within: CalendarSpan(days: 2)), now: muchLater), ["t1", "t2", "t3", "t4", "t5"])
    }

    func testSpanParsing() throws {
        XCTAssertEqual(try CalendarSpan.parse("1y6m"), CalendarSpan(years: 1, months: 6))
        XCTAssertEqual(try CalendarSpan.parse("36h"), CalendarSpan(hours: 36))
        XCTAssertEqual(try CalendarSpan.parse("7d12h"), CalendarSpan(days: 7, hours: 12))
        for bad in ["", "7", "d", "7w", "-1d", "1.5d"] {
            XCTAssertThrowsError(try CalendarSpan.parse(bad), bad)
        }
    }

    func testYearOfDailySnapshots() {
        // 400 daily snapshots at 03:00 UTC ending 2024-12-31, a common production policy.
        let end = Self.t("2024-12-31T03:00:00Z")
        let times = (0..<400).map { end.addingTimeInterval(Double(-$0) * 86400) }
        let p = RetentionPolicy(daily: 7, weekly: 4, monthly: 12, yearly: 3)
        let keep = p.apply(times: times, now: end, timeZone: utc).filter(\.keep).map { times[$0.index] }
        let days = Set(keep.map { RFC3339.format($0).prefix(10) })
        // 7 dailies: 25..31 Dec. Weeklies: newest of ISO weeks 2025-W01 (from Mon 30 Dec), 52,
        // 51, 50 → 31, 29, 22, 15 Dec. Monthlies: last day of each month Dec..Jan 2024. Yearly:
        // 2024, 2023 (31 Dec 2023), and with a count left, the oldest (28 Nov 2023).
        for d in ["2024-12-25", "2024-12-31", "2024-12-22", "2024-12-15", "2024-11-30", "2024-01-31", "2023-12-31", "2023-11-28"] {
            XCTAssertTrue(days.contains(Substring(d)), "\(d) should be kept; kept \(days.sorted())")
        }
        XCTAssertFalse(days.contains("2024-12-24"), "a day outside every bucket was kept")
        XCTAssertFalse(days.contains("2024-12-10"), "a day outside every bucket was kept")
        // 7 daily + 2 more weekly (15, 22 Dec) + 11 more monthly + 2 more yearly.
        XCTAssertEqual(keep.count, 7 + 2 + 11 + 2, "kept \(days.sorted())")
    }
}
