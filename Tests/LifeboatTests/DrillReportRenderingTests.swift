import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatDrill

/// The drill report's HTML as a person reads and prints it, and (with chromium installed by
/// `Scripts/setup --with-chromium`) as a browser loads it.
final class DrillReportRenderingTests: XCTestCase {
    /// A real drill's report, and a trend of three drills of it: one not recovered, one whose
    /// RPO was within the target but did not count (its recovery was not verified).
    func rendered() throws -> (report: DrillReport, html: String, markdown: String, trend: [DrillHistoryEntry]) {
        let sb = try Sandbox()
        try DrillTests.valid.write(toFile: sb.path("ok.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: sb.path("scratch"), withIntermediateDirectories: true)
        let r = try sb.lifeboat("drill", "run", sb.path("ok.yml"), "--report-dir", sb.path("reports"), "--scratch-dir", sb.path("scratch"),
                                env: ["LIFEBOAT_OPERATOR": "Jane Roe\n"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let dir = try XCTUnwrap(try FileIO.listDirectory(sb.path("reports")).first { !$0.hasSuffix(".jsonl") })
        let report = try DrillReport.decode(try FileIO.readFile(sb.path("reports/\(dir)/report.json")))
        var lost = DrillArchive.entry(report, dir: dir, files: [:], prev: "")
        lost.time = "2025-01-01T00:00:00Z"
        lost.rtoSeconds = nil
        lost.rtoMet = false
        var unverified = DrillArchive.entry(report, dir: dir, files: [:], prev: "")
        unverified.time = "2025-06-01T00:00:00Z"
        unverified.rpoSeconds = 1
        unverified.rpoMet = false
        let trend = [lost, unverified, DrillArchive.entry(report, dir: dir, files: [:], prev: "")]
        return (report, DrillHTML.render(report, reportSHA256: "0", trend: trend), DrillMarkdown.render(report, reportSHA256: "0", trend: trend), trend)
    }

    func testTrendsTimesAndIdsReadableOnScreenAndOnPaper() throws {
        let (report, html, markdown, _) = try rendered()
        XCTAssertTrue(html.contains("RTO per drill (log scale)"))
        XCTAssertTrue(html.contains("<title>2025-01-01T00:00:00Z: not recovered</title>"), "a drill without RTO is marked, not drawn on the target line")
        XCTAssertTrue(html.contains("fill=\"#cc0000\"><title>2025-06-01T00:00:00Z: 1.00 s</title>"), "an RPO that did not count is red although under the target")
        XCTAssertFalse(html.contains("break-all"))
        let snapshot = try XCTUnwrap(report.restoreAttempts.first?.snapshot)
        XCTAssertEqual(snapshot.count, 64)
        XCTAssertTrue(html.contains("<code>\(snapshot)</code>") && markdown.contains(snapshot), "full snapshot ids")
        let disaster = try XCTUnwrap(report.timeline.first { $0.category == "disaster" })
        XCTAssertTrue(html.contains("<td>\(DrillHTML.esc(disaster.name))</td><td>\(String(format: "%.3f s", disaster.start))</td>"),
                      "timeline times are printed, not only shown on hover")
        XCTAssertTrue(html.contains("<h2>Evidence</h2>") && html.contains(report.evidence?.binarySha256 ?? "missing"))
    }

    /// Who ran it reads as a person and an account ("Jane Roe (root@vm)") in the JSON's evidence
    /// and every form; label-and-value tables have no empty header row.
    func testIdentityShownAndNoEmptyHeaderRows() throws {
        let (report, html, markdown, _) = try rendered()
        let identity = "Jane Roe (\(HostIdentity.userName)@\(HostIdentity.hostName))"
        XCTAssertEqual(report.initiator.operatorName, "Jane Roe")
        XCTAssertEqual(report.initiator.identity, identity)
        XCTAssertEqual(report.evidence?.identity, identity)
        XCTAssertTrue(html.contains(DrillHTML.esc(identity) + ", "), "started by, in the HTML")
        XCTAssertTrue(markdown.contains("| Started by | \(identity), "), "started by, in the Markdown")
        XCTAssertFalse(html.contains(" on \(HostIdentity.hostName)"))
        XCTAssertFalse(html.contains("<th></th>"), "an empty grey header row")
        XCTAssertEqual(DrillReport.Initiator.operatorName(" \u{1b}[31mX\n "), "[31mX", "one line, no control characters")
        XCTAssertNil(DrillReport.Initiator.operatorName("  "))
    }

    /// Seen in a screenshot: the strike table's full snapshot ids pushed the page sideways. As
    /// code they wrap.
    func testStrikeTableIdsWrapInsteadOfWideningThePage() throws {
        let report = try DrillStrikeTests.realReport()
        let series = DrillStrikeSeries.combine(id: "s", points: "one point", every: 1, samples: [(0.1, report)], targets: .init(rto: 60, rpo: 60, maxLostTransactions: nil))
        let html = DrillHTML.render(series, reportSHA256: "0", trend: [])
        let snapshot = try XCTUnwrap(report.restoreAttempts.first?.snapshot)
        XCTAssertTrue(html.contains("<td><code>\(snapshot)</code></td></tr>"), "the strike table's snapshot id as code")
    }

    /// Seen in the README's example: a strike series' phase table (the worst-RPO run) totalled
    /// the slowest run's RTO, which its phases did not add up to.
    func testStrikeSeriesPhaseTotalIsTheDetailedRuns() throws {
        let base = try DrillStrikeTests.realReport()
        func sample(_ id: String, rpo: Double, rto: Double) -> DrillReport {
            var r = base
            r.id = id
            r.rpo.achievedSeconds = rpo
            for k in r.targets.indices where r.targets[k].measure == "RPO" { r.targets[k].achievedSeconds = rpo }
            for k in r.targets.indices where r.targets[k].measure == "RTO" { r.targets[k].achievedSeconds = rto }
            return r
        }
        let series = DrillStrikeSeries.combine(id: "s", points: "two points", every: 1, samples: [(0.1, sample("slow", rpo: 0.1, rto: 99)), (0.5, sample("worst", rpo: 0.5, rto: 0.2))],
                                               targets: .init(rto: 60, rpo: 60, maxLostTransactions: nil))
        XCTAssertEqual(series.rto.achievedSeconds, 99)
        let markdown = DrillMarkdown.render(series, reportSHA256: "0", trend: [])
        let html = DrillHTML.render(series, reportSHA256: "0", trend: [])
        XCTAssertTrue(markdown.contains("| **Total (damage → verified)** | **200 ms** |"), markdown)
        XCTAssertTrue(markdown.contains("the slowest of the 2 strike points: 1 min 39 s"), markdown)
        XCTAssertTrue(html.contains("<strong>200 ms</strong>") && html.contains("the slowest of the 2 strike points: 1 min 39 s"))
    }

    func testNoNegativeOverTheTarget() {
        let rpo = DrillReport.RPORecord(method: "markers", achievedSeconds: 0, lostTransactions: 0, lastCommittedBeforeDisaster: nil, newestRestored: nil, detail: "d")
        let unverified = DrillRunner.rpoDetail(rpo, target: 86_400, met: false, verified: false)
        XCTAssertFalse(unverified.contains("over the target"), unverified)
        XCTAssertTrue(unverified.contains("not verified, so no data loss is demonstrated"), unverified)
        var over = rpo
        over.achievedSeconds = 5
        XCTAssertTrue(DrillRunner.rpoDetail(over, target: 3, met: false, verified: true).contains("over the target by 2.00 s"))
    }

    /// Loads every report file of a drill in headless Chromium: the page must load, and the DOM
    /// it builds must carry the key figures.
    func testReportsLoadInHeadlessChromium() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            // Scripts/test installs it; a run without it must not pass as if the reports rendered.
            throw LifeboatError(.notFound, "chromium is not installed: run Scripts/setup --with-chromium")
        }
        let (report, html, markdown, _) = try rendered()
        let sb = try Sandbox()
        let page = sb.path("report.html")
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        let md = sb.path("report.md.txt")
        try markdown.write(toFile: md, atomically: true, encoding: .utf8)
        func run(_ args: [String]) throws -> (status: Int32, out: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: chromium)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + sb.path("profile")] + args
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let shot = sb.path("report.png")
        let screenshot = try run(["--screenshot=" + shot, "--window-size=1100,2000", "file://" + page])
        XCTAssertEqual(screenshot.status, 0)
        XCTAssertGreaterThan((try FileIO.status(shot)?.size) ?? 0, 10_000, "a page was drawn")
        for (file, figures) in [(page, [report.summary, report.rto.achievedSeconds.map { DrillFormat.seconds($0) } ?? "", "RTO per drill (log scale)", report.id]),
                                (md, [report.id, "Achieved RPO", report.evidence?.restoredFileSha256 ?? "missing"])] {
            let dom = try run(["--dump-dom", "file://" + file])
            XCTAssertEqual(dom.status, 0)
            for figure in figures where !figure.isEmpty {
                XCTAssertTrue(dom.out.contains(DrillHTML.esc(figure)) || dom.out.contains(figure), "\(file): \(figure) in the rendered page")
            }
        }
    }
}
