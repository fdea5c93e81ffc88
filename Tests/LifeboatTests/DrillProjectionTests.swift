import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatDrill

/// The RTO projection to the production database's size and link: the pure formula on known
/// phase timings, the scenario keys and their errors, and a real drill's report labelling it
/// as projected everywhere.
final class DrillProjectionTests: XCTestCase {
    static let phases: [DrillReport.Phase] = [
        .init(name: "detection (damage → disaster declared)", seconds: 1),
        .init(name: DrillRunner.keyDerivationPhase, seconds: 2),
        .init(name: "fetch", seconds: 0.5),
        .init(name: "decrypt + decompress", seconds: 0.25),
        .init(name: "write", seconds: 0.25),
        .init(name: "integrity check", seconds: 1),
        .init(name: "swap into the production path", seconds: 0.1),
        .init(name: "application health query", seconds: 0.05),
        .init(name: "verification queries", seconds: 0.2),
    ]

    func projected(_ p: DrillReport.Projection, _ name: String) -> (rule: String, seconds: Double)? {
        p.phases.first { $0.name == name }.map { ($0.rule, $0.projectedSeconds) }
    }

    /// 1 GiB measured, 10 GiB projected: per-byte phases × 10, fixed ones as measured; over
    /// 1 Gbit/s fetching 10 GiB takes 85.9 s, more than 10 × the measured fetch, so the link bounds it.
    func testProjectionOfKnownPhaseTimings() throws {
        let gib = 1 << 30
        let p = DrillProjection.project(phases: Self.phases, measuredRTO: 5.4, measuredBytes: gib, productionBytes: 10 * gib,
                                        link: "1Gbit/s", linkBytesPerSecond: 125e6, target: 60)
        let floor = Double(10 * gib) / 125e6
        XCTAssertEqual(p.scale, 10, accuracy: 1e-9)
        XCTAssertEqual(p.fetchFloorSeconds, floor, accuracy: 1e-9)
        XCTAssertEqual(projected(p, "fetch")?.rule, "link_bound")
        XCTAssertEqual(projected(p, "fetch")?.seconds ?? 0, floor, accuracy: 1e-9)
        for (name, seconds) in [("decrypt + decompress", 2.5), ("write", 2.5), ("integrity check", 10), ("verification queries", 2)] {
            XCTAssertEqual(projected(p, name)?.rule, "per_byte", name)
            XCTAssertEqual(projected(p, name)?.seconds ?? 0, seconds, accuracy: 1e-9, name)
        }
        for (name, seconds) in [("detection (damage → disaster declared)", 1.0), (DrillRunner.keyDerivationPhase, 2),
                                ("swap into the production path", 0.1), ("application health query", 0.05)] {
            XCTAssertEqual(projected(p, name)?.rule, "fixed", name)
            XCTAssertEqual(projected(p, name)?.seconds ?? 0, seconds, accuracy: 1e-9, name)
        }
        // 5.4 s measured (0.05 s between phases kept) + the growth of each per-byte phase.
        let expected = 5.4 + (floor - 0.5) + 2.25 + 2.25 + 9 + 1.8
        XCTAssertEqual(p.projectedRtoSeconds, expected, accuracy: 1e-9)
        XCTAssertEqual(p.measuredRtoSeconds, 5.4)
        XCTAssertFalse(p.fitsTarget, "\(p.projectedRtoSeconds) s against a 60 s target")
        XCTAssertEqual(p.label, "projected, not measured")
        XCTAssertTrue(p.formula.contains("10.0 GiB ÷ 1Gbit/s (125 MB/s) = 1 min 25 s"), p.formula)
        XCTAssertTrue(DrillProjection.sentence(p).contains("would exceed the RTO target of 1 min 0 s by 46.10 s"), DrillProjection.sentence(p))

        // A link faster than the measured fetch scaled: the fetch scales like the other per-byte phases.
        let fast = DrillProjection.project(phases: Self.phases, measuredRTO: 5.4, measuredBytes: gib, productionBytes: 10 * gib,
                                           link: "100Gbit/s", linkBytesPerSecond: 12.5e9, target: 60)
        XCTAssertEqual(projected(fast, "fetch")?.rule, "per_byte")
        XCTAssertEqual(projected(fast, "fetch")?.seconds ?? 0, 5, accuracy: 1e-9)
        XCTAssertEqual(fast.projectedRtoSeconds, 5.4 + 4.5 + 2.25 + 2.25 + 9 + 1.8, accuracy: 1e-9)
        XCTAssertTrue(fast.fitsTarget)
        XCTAssertTrue(DrillProjection.sentence(fast).contains("it would fit the RTO target"))

        // No fetch phase measured (nothing timed it): the link still has to carry the bytes.
        let noFetch = DrillProjection.project(phases: [.init(name: "write", seconds: 1)], measuredRTO: 1, measuredBytes: gib, productionBytes: 2 * gib,
                                              link: "1GB/s", linkBytesPerSecond: 1e9, target: 60)
        XCTAssertEqual(projected(noFetch, "fetch")?.rule, "link_bound")
        XCTAssertEqual(noFetch.projectedRtoSeconds, 2 + Double(2 * gib) / 1e9, accuracy: 1e-9)
    }

    func testLinkSpeedsInBitsAndBytes() {
        let cases: [(String, Double?)] = [
            ("1Gbit/s", 125e6), ("100Mbit/s", 12.5e6), ("100Mb/s", 12.5e6), ("1Gbps", 125e6), ("10 Gbit/s", 1.25e9),
            ("200MB/s", 200e6), ("120MiB/s", 120 * 1_048_576), ("50MBps", 50e6),
            ("fast", nil), ("0Gbit/s", nil), ("1Gbit", nil), ("1Xb/s", nil), ("-1MB/s", nil), ("MB/s", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(LinkSpeed.bytesPerSecond(text), expected, text)
        }
        XCTAssertEqual(LinkSpeed.format(125e6), "125 MB/s")
    }

    static let withProjection = DrillTests.valid.replacingOccurrences(of: "targets: {rto: 1m, rpo: 1m}",
                                                                      with: "targets: {rto: 1m, rpo: 1m}\nprojection:\n  production_size: 40GiB\n  link: 1Gbit/s")

    func parseError(_ text: String) -> String {
        do { _ = try ScenarioLoader.parse(text, file: "s.yml"); return "no error" } catch let e as LifeboatError { return e.message } catch { return "\(error)" }
    }

    func testScenarioKeysAndTheirErrors() throws {
        let s = try ScenarioLoader.parse(Self.withProjection, file: "s.yml")
        XCTAssertEqual(s.projection, .init(productionBytes: 40 << 30, link: "1Gbit/s", linkBytesPerSecond: 125e6))
        XCTAssertNil(try ScenarioLoader.parse(DrillTests.valid, file: "s.yml").projection)
        let cases: [(String, String, String)] = [
            ("production_size: 40GiB", "production_size: lots", "line 6: cannot read size 'lots'"),
            ("production_size: 40GiB", "production_size: 0", "line 6: projection.production_size must be more than 0"),
            ("link: 1Gbit/s", "link: fast", "line 7: cannot read link speed 'fast': use e.g. 1Gbit/s"),
            ("link: 1Gbit/s", "link: 1Gbit", "line 7: cannot read link speed '1Gbit'"),
            ("link: 1Gbit/s", "speed: 1Gbit/s", "line 7: unknown key 'speed' in projection"),
            ("  link: 1Gbit/s\n", "", "line 6: projection needs 'link:'"),
        ]
        for (old, new, message) in cases {
            let text = Self.withProjection.replacingOccurrences(of: old, with: new)
            let error = parseError(text)
            XCTAssertTrue(error.contains(message), "expected '\(message)' in: \(error)")
            XCTAssertFalse(error.contains("\n"), "one line")
        }
    }

    /// A real drill with a projection: report.json holds it beside the measured RTO (not among
    /// the targets), and the Markdown and HTML label it as projected wherever it appears.
    func testARealReportLabelsTheProjection() throws {
        let sb = try Sandbox()
        try Self.withProjection.write(toFile: sb.path("ok.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let r = try sb.lifeboat("drill", "run", sb.path("ok.yml"), "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { !$0.hasSuffix(".jsonl") })
        let report = try DrillReport.decode(try FileIO.readFile(sb.path("reports/\(dir)/report.json")))
        let p = try XCTUnwrap(report.projection)
        XCTAssertEqual(p.label, "projected, not measured")
        XCTAssertEqual(p.productionBytes, 40 << 30)
        XCTAssertEqual(p.measuredBytes, report.scope.databaseBytes)
        XCTAssertEqual(p.measuredRtoSeconds, report.rto.achievedSeconds)
        XCTAssertEqual(p.phases.first { $0.name == "fetch" }?.rule, "link_bound", "40 GiB over 1 Gbit/s is slower than a scaled local fetch")
        XCTAssertEqual(p.phases.first { $0.name == DrillRunner.keyDerivationPhase }?.rule, "fixed")
        XCTAssertEqual(p.phases.first { $0.name == "write" }?.rule, "per_byte", "the restore's phase names are the ones the projection scales")
        XCTAssertGreaterThan(p.projectedRtoSeconds, p.fetchFloorSeconds)
        XCTAssertEqual(report.targets.map(\.measure), ["Recovery verified", "RTO", "RPO"], "the projection is no target")
        XCTAssertEqual(report.targets.first { $0.measure == "RTO" }?.achievedSeconds, report.rto.achievedSeconds, "the RTO achieved is the measured one")

        let markdown = try String(contentsOfFile: sb.path("reports/\(dir)/report.md"), encoding: .utf8)
        let html = try String(contentsOfFile: sb.path("reports/\(dir)/report.html"), encoding: .utf8)
        let figure = DrillFormat.seconds(p.projectedRtoSeconds)
        XCTAssertTrue(markdown.contains("## RTO projection (projected, not measured)"), markdown)
        XCTAssertTrue(markdown.contains("**\(figure) (projected, not measured)**"))
        XCTAssertTrue(html.contains("<h2>RTO projection (projected, not measured)</h2>"))
        XCTAssertTrue(html.contains("<strong>\(figure) (projected, not measured)</strong>"))
        // Every line naming the projected figure says it is projected.
        for text in [markdown, html] {
            for line in text.split(separator: "\n") where line.contains(figure) {
                XCTAssertTrue(line.contains("projected"), "unlabelled projected figure: \(line)")
            }
        }
        XCTAssertTrue(markdown.contains("Projected RTO for 40.0 GiB over 1Gbit/s"))
        XCTAssertTrue(markdown.contains("Formula: fixed phases as measured"))
    }
}
