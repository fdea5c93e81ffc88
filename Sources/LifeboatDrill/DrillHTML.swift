import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The drill report as one self-contained HTML page (inline CSS and SVG, no scripts, nothing
/// fetched), so it can be mailed, archived and opened offline years later.
public enum DrillHTML {
    public static func render(_ r: DrillReport, reportSHA256: String, trend: [DrillHistoryEntry]) -> String {
        var o = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>DR drill: \(esc(r.scenario.name)) — \(esc(r.startedAt))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;max-width:1000px;margin:2em auto;padding:0 1em}
            h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #dde;padding-bottom:.2em}
            table{border-collapse:collapse;width:100%;margin:.6em 0}td,th{border:1px solid #dde;padding:.3em .5em;text-align:left;vertical-align:top}
            th{background:#f3f5f9}code{font-size:.92em;overflow-wrap:anywhere}
            .banner{padding:.8em 1em;border-radius:6px;font-size:1.05em;margin:1em 0}
            .passed{background:#e5f6ea;border:1px solid #5bb974}.target_missed{background:#fdecea;border:1px solid #e06055}.failed{background:#fff4e0;border:1px solid #e0a040}
            .ok{color:#1e7d3a;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#667}
            .sign td{height:2.2em}.spans{font-size:.9em}
            @media print{body{margin:0}h2{break-after:avoid}table,svg{break-inside:avoid}}
            </style></head><body>

            """
        func add(_ s: String) { o += s + "\n" }
        func table(_ head: [String], _ rows: [[String]], cls: String = "") {
            // A table of label and value rows has no header: no empty grey row above it.
            let header = head.allSatisfy(\.isEmpty) ? "" : "<tr>" + head.map { "<th>\(esc($0))</th>" }.joined() + "</tr>"
            add("<table\(cls.isEmpty ? "" : " class=\"\(cls)\"")>" + header)
            for row in rows { add("<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>") }
            add("</table>")
        }
        func mark(_ ok: Bool, _ yes: String, _ no: String) -> String { ok ? "<span class=ok>✔ \(yes)</span>" : "<span class=bad>✘ \(no)</span>" }

        add("<h1>Disaster-recovery drill: \(esc(r.scenario.name))</h1>")
        add("<div class=muted>\(esc(r.startedAt)) · report \(esc(r.id))</div>")
        add("<div class=\"banner \(r.outcome.rawValue)\"><strong>\(DrillMarkdown.outcomeText(r.outcome))</strong> — \(esc(r.summary))</div>")
        table(["", ""], [
            ["Started (UTC)", esc(r.startedAt)], ["Finished (UTC)", esc(r.finishedAt)], ["Duration", esc(DrillFormat.seconds(r.durationSeconds))],
            ["Started by", esc("\(r.initiator.shown), \(r.initiator.mode)")],
            ["Command", "<code>\(esc(r.initiator.command))</code>"], ["Tool", esc("lifeboat \(r.initiator.toolVersion)")],
        ])

        add("<h2>Targets and achieved</h2>")
        table(["Measure", "Target", "Achieved", "Result", "Detail"], r.targets.map {
            [esc($0.measure), esc($0.target), "<strong>\(esc($0.achieved))</strong>", mark($0.met, "met", "missed"), esc($0.detail)]
        })

        if let p = r.previous { add("<p class=previous>\(esc(DrillComparison.text(p, r)))</p>") }
        if let p = r.projection { add("<p class=projection><em>\(esc(DrillProjection.sentence(p)))</em> Not a measurement: see RTO projection below.</p>") }

        if let strikes = r.strikes {
            add("<h2>Strike points: RPO over the snapshot cycle</h2>")
            add("<p>\(esc(DrillStrikeSeries.spreadText(strikes)))</p>")
            // Ids as code, which wraps: a 64-character snapshot id must not push the table off the page.
            let ids: Set<Int> = [1, DrillStrikeSeries.header.count - 1]
            table(DrillStrikeSeries.header, DrillStrikeSeries.rows(strikes).map { row in
                row.enumerated().map { i, cell in ids.contains(i) && cell != "—" ? "<code>\(esc(cell))</code>" : esc(cell) }
            })
        }

        add("<h2>Timeline</h2>")
        add(timelineSVG(r))
        add("<h2>RTO: where the time went</h2>")
        table(["Phase", "Time"], r.rto.phases.map { [esc($0.name), esc(DrillFormat.seconds($0.seconds))] }
              + [["<strong>Total (damage → verified)</strong>", "<strong>\(esc(DrillFormat.seconds(DrillStrikeSeries.phaseTotal(r).seconds)))</strong>"]])
        if let note = DrillStrikeSeries.phaseTotal(r).note { add("<p class=muted>\(esc(note))</p>") }
        if !r.rto.restoreWorkerSeconds.isEmpty {
            add("<p class=muted>Fetch, decrypt + decompress and write overlap on \(r.rto.restoreWorkers) worker threads; their wall time is split by the worker time each took (\(esc(r.rto.restoreWorkerSeconds.map { "\($0.name) \(DrillFormat.seconds($0.seconds))" }.joined(separator: ", ")))).</p>")
        }

        if let p = r.projection {
            add("<h2>RTO projection (\(esc(DrillProjection.label)))</h2>")
            add("<p>\(esc(DrillProjection.sentence(p)))</p>")
            add("<p class=muted>Formula: \(esc(p.formula)).</p>")
            table(["Phase", "Rule", "Measured", "Projected"], p.phases.map {
                [esc($0.name), esc(DrillProjection.ruleText($0.rule)), esc(DrillFormat.seconds($0.measuredSeconds)), esc(DrillFormat.seconds($0.projectedSeconds) + " (projected)")]
            } + [["<strong>Total</strong>", "", esc("\(DrillFormat.seconds(p.measuredRtoSeconds)) (measured RTO)"),
                  "<strong>\(esc(DrillFormat.seconds(p.projectedRtoSeconds))) (projected, not measured)</strong>"]])
        }

        add("<h2>RPO: data lost</h2>")
        var rpoRows = [["Method", esc("\(r.rpo.method): \(r.rpo.detail)")]]
        if let l = r.rpo.lastCommittedBeforeDisaster { rpoRows.append(["Last committed before the disaster was declared", esc(l)]) }
        if let n = r.rpo.newestRestored { rpoRows.append(["Newest in the restored database", esc(n)]) }
        if let lost = r.rpo.lostTransactions {
            rpoRows.append(["Committed transactions lost", "<strong>\(lost)</strong>" + (r.rpo.committedTransactions.map { " of \($0) committed when the disaster was declared" } ?? "")])
            if let b = r.rpo.lostByBackup { rpoRows.append(["Lost by the backup", String(b)]) }
            if let c = r.rpo.lostByChoice, c > 0 { rpoRows.append(["Lost by choice (rolled back by the point-in-time restore)", String(c)]) }
        }
        if let e = r.rpo.estimate { rpoRows.append(["Estimate from \(esc(e.method)) (not a count)", esc("\(DrillFormat.seconds(e.seconds)): \(e.detail)")]) }
        rpoRows.append(["Achieved RPO", "<strong>\(esc(DrillFormat.seconds(r.rpo.achievedSeconds)))</strong>"])
        table(["", ""], rpoRows)

        if trend.count > 1 {
            add("<h2>Trend: this scenario, drill after drill</h2>")
            add(trendSVG(trend))
        }

        add("<h2>Scenario</h2>")
        add("<p><strong>\(esc(r.scenario.name))</strong> — <code>\(esc(r.scenario.file))</code>, SHA-256 <code>\(esc(r.scenario.fileSha256))</code></p>")
        if !r.scenario.description.isEmpty { add("<p>\(esc(r.scenario.description))</p>") }

        add("<h2>Scope</h2>")
        add("<p>Source <code>\(esc(r.scope.source))</code>: \(esc(r.scope.database))\(esc(r.scope.journalMode.map { ", \($0) journal mode" } ?? ""))\(esc(r.scope.databaseBytes.map { ", \(Units.formatBytes($0))" } ?? ""))</p>")
        if let w = r.scope.workload {
            add("<p>Write load: \(w.commits) marker transactions at \(Int(w.commitsPerSecondTarget))/s over \(esc(DrillFormat.seconds(w.seconds))).</p>")
        }
        table(["Repository", "Role", "Location", "After the disaster"], r.scope.repositories.map { [esc($0.name), esc($0.role), esc($0.location), esc($0.stateAfterDisaster)] })
        if !r.scope.snapshots.isEmpty {
            table(["Snapshot", "Taken (UTC)", "New pages", "Added", "Took", "Replicated to"], r.scope.snapshots.map {
                ["<code>\(esc($0.id))</code>", esc($0.time), String($0.pagesNew), esc(Units.formatBytes($0.bytesAdded)), esc(DrillFormat.seconds($0.seconds)), esc($0.replicatedTo.joined(separator: ", "))]
            })
        }

        add("<h2>Disaster</h2>")
        add("<p><strong>\(esc(r.disaster.kind))</strong>: \(esc(r.disaster.description)). Struck at \(esc(r.disaster.struckAt)); declared at \(esc(r.disaster.declaredAt)).</p>")
        add("<ul>" + r.disaster.details.map { "<li>\(esc($0))</li>" }.joined() + "</ul>")

        add("<h2>Restore attempts</h2>")
        table(["Repository", "Result", "Snapshot", "Took"], r.restoreAttempts.map { a in
            [esc(a.repository), a.ok ? "<span class=ok>restored</span>" : "<span class=bad>failed</span>: \(esc(a.error ?? ""))",
             a.snapshot.map { "<code>\(esc($0))</code>, taken \(esc(a.snapshotTime ?? ""))" } ?? "—", esc(DrillFormat.seconds(a.seconds))]
        })

        add("<h2>Verifications</h2>")
        table(["Check", "What", "Expected", "Actual", "Result"], r.verifications.map {
            [esc($0.name), "<code>\(esc($0.check))</code>", esc($0.expected), esc($0.actual), mark($0.passed, "pass", "fail")]
        })

        if let e = r.evidence {
            add("<h2>Evidence</h2>")
            table(["Fact", "Value"], DrillEvidenceRows.rows(e).map { [esc($0[0]), "<code>\(esc($0[1]))</code>"] })
        }

        add("<h2>Findings</h2>")
        add(r.findings.isEmpty ? "<p>None.</p>" : "<ul>" + r.findings.map { "<li>\(esc($0))</li>" }.joined() + "</ul>")

        add("<h2>Controls this evidence supports</h2>")
        add("<ul>" + (r.controls ?? DrillReport.controls).map { "<li>\(esc($0))</li>" }.joined() + "</ul>")
        add("<p class=muted>Cleanup: \(esc(r.cleanup)).</p>")

        add("<h2>Sign-off</h2>")
        table(["Role", "Name", "Date", "Signature"], r.signOff.map { [esc($0.role), esc($0.name), esc($0.date), esc($0.signature)] }, cls: "sign")
        add("<p class=muted>This report holds no secrets and no database content. Its data is <code>report.json</code>, SHA-256 <code>\(esc(reportSHA256))</code>; the SHA-256 of every report file is in <code>SHA256SUMS</code> and in the drill history chain (<code>lifeboat drill history --verify</code>).</p>")
        add("</body></html>")
        return o
    }

    package static func esc(_ s: String) -> String { Markup.escape(s) }

    package static let colors: [String: String] = [
        "setup": "#9aa5b8", "load": "#6fa8dc", "snapshot": "#3d85c6", "disaster": "#cc0000",
        "failed": "#e69138", "recovery": "#6aa84f", "verify": "#38761d", "cleanup": "#b7b7b7",
    ]
    package static let lanes = ["setup", "load", "snapshot", "disaster", "failed", "recovery", "verify", "cleanup"]

    /// One lane per kind of event on a common time axis; the RTO span is shaded.
    package static func timelineSVG(_ r: DrillReport) -> String {
        let events = r.timeline
        let total = max(events.map(\.end).max() ?? 1, 0.001)
        let used = lanes.filter { lane in events.contains { $0.category == lane } }
        let left = 110.0, width = 860.0, laneH = 26.0, top = 10.0
        let height = top + Double(used.count) * laneH + 30
        func x(_ t: Double) -> Double { left + t / total * width }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(left + width + 20)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"drill timeline\">"
        if let declared = events.first(where: { $0.category == "disaster" })?.end,
           let verified = events.filter({ $0.category == "verify" }).map(\.end).max() {
            s += "<rect x=\"\(f(x(declared)))\" y=\"\(f(top - 4))\" width=\"\(f(max(1, x(verified) - x(declared))))\" height=\"\(f(Double(used.count) * laneH + 4))\" fill=\"#e5f6ea\"><title>RTO: \(esc(DrillFormat.seconds(verified - declared)))</title></rect>"
        }
        for (k, lane) in used.enumerated() {
            let y = top + Double(k) * laneH
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 16))\" text-anchor=\"end\" font-size=\"12\" fill=\"#333\">\(lane)</text>"
            for e in events where e.category == lane {
                let w = max(1.5, x(e.end) - x(e.start))
                s += "<rect x=\"\(f(x(e.start)))\" y=\"\(f(y + 3))\" width=\"\(f(w))\" height=\"\(f(laneH - 8))\" rx=\"2\" fill=\"\(colors[lane] ?? "#888")\"><title>\(esc(e.name)): \(esc(String(format: "%.3f", e.start)))–\(esc(String(format: "%.3f", e.end))) s (\(esc(DrillFormat.seconds(e.end - e.start))))</title></rect>"
                if w > 70 {
                    s += "<text x=\"\(f(x(e.start) + 4))\" y=\"\(f(y + 16))\" font-size=\"10\" fill=\"#fff\">\(esc(String(e.name.prefix(Int(w / 6)))))</text>"
                }
            }
        }
        let axisY = top + Double(used.count) * laneH + 4
        s += "<line x1=\"\(f(left))\" y1=\"\(f(axisY))\" x2=\"\(f(left + width))\" y2=\"\(f(axisY))\" stroke=\"#999\"/>"
        for t in ticks(total) {
            s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(axisY))\" x2=\"\(f(x(t)))\" y2=\"\(f(axisY + 4))\" stroke=\"#999\"/>"
            s += "<text x=\"\(f(x(t)))\" y=\"\(f(axisY + 16))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">\(esc(DrillFormat.seconds(t)))</text>"
        }
        s += "</svg><p class=muted>Shaded: the RTO, from the disaster being declared to the restored database verified. Every span's times:</p>"
        s += "<table class=spans><tr><th>Event</th><th>From</th><th>To</th><th>Took</th></tr>"
        for e in events.sorted(by: { $0.start < $1.start }) {
            s += "<tr><td>\(esc(e.name))</td><td>\(esc(String(format: "%.3f s", e.start)))</td><td>\(esc(String(format: "%.3f s", e.end)))</td><td>\(esc(DrillFormat.seconds(e.end - e.start)))</td></tr>"
        }
        return s + "</table>"
    }

    /// RTO and RPO of each drill of this scenario, with the targets as dashed lines, on a log
    /// scale: a 600 ms RTO and a 30 s target are both readable. A drill that did not recover is
    /// a cross above the plot, never a point on the target line.
    package static func trendSVG(_ trend: [DrillHistoryEntry]) -> String {
        var s = ""
        typealias Pick = (DrillHistoryEntry) -> Double?
        let series: [(String, Pick, (DrillHistoryEntry) -> Double, (DrillHistoryEntry) -> Bool?)] = [
            ("RTO", { $0.rtoSeconds }, { $0.rtoTargetSeconds }, { $0.rtoMet }),
            ("RPO", { $0.rpoSeconds }, { $0.rpoTargetSeconds }, { $0.rpoMet }),
        ]
        for (label, value, target, met) in series {
            let points = Array(trend.suffix(30))
            let known = points.compactMap(value).filter { $0 > 0 } + points.map(target).filter { $0 > 0 }
            let lo = log10(max(min(known.min() ?? 0.01, 1) / 2, 0.001)), hi = log10(max(known.max() ?? 1, 0.01) * 2)
            let left = 70.0, w = 380.0, h = 150.0, top = 34.0
            func x(_ i: Int) -> Double { left + (points.count > 1 ? Double(i) / Double(points.count - 1) * w : w / 2) }
            // Zero (nothing lost) sits on the axis floor.
            func y(_ v: Double) -> Double { top + h - (log10(max(v, pow(10, lo))) - lo) / (hi - lo) * h }
            var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 470 225\" width=\"49%\" role=\"img\" aria-label=\"\(label) trend\">"
            svg += "<text x=\"\(f(left))\" y=\"13\" font-size=\"12\" font-weight=\"600\">\(label) per drill (log scale)</text>"
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + h))\" x2=\"\(f(left + w))\" y2=\"\(f(top + h))\" stroke=\"#999\"/><line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + h))\" stroke=\"#999\"/>"
            var decade = ceil(lo)
            while decade <= hi {
                let v = pow(10, decade)
                svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(v)))\" x2=\"\(f(left + w))\" y2=\"\(f(y(v)))\" stroke=\"#eee\"/>"
                svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(esc(DrillFormat.seconds(v)))</text>"
                decade += 1
            }
            if let last = points.last {
                let t = target(last)
                svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(left + w))\" y2=\"\(f(y(t)))\" stroke=\"#cc0000\" stroke-dasharray=\"5,4\"/>"
                svg += "<text x=\"\(f(left + w))\" y=\"\(f(y(t) - 3))\" text-anchor=\"end\" font-size=\"10\" fill=\"#cc0000\">target \(esc(DrillFormat.seconds(t)))</text>"
            }
            let coords = points.enumerated().compactMap { i, e in value(e).map { (x(i), y($0)) } }
            if coords.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"#3d85c6\" stroke-width=\"2\" points=\"\(coords.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>"
            }
            for (i, e) in points.enumerated() {
                guard let v = value(e) else {
                    let cx = x(i), cy = top - 12
                    svg += "<path d=\"M\(f(cx - 4)) \(f(cy - 4))L\(f(cx + 4)) \(f(cy + 4))M\(f(cx - 4)) \(f(cy + 4))L\(f(cx + 4)) \(f(cy - 4))\" stroke=\"#cc0000\" stroke-width=\"2\"><title>\(esc(e.time)): not recovered</title></path>"
                    svg += "<text x=\"\(f(cx + 7))\" y=\"\(f(cy + 4))\" font-size=\"9\" fill=\"#cc0000\">not recovered</text>"
                    continue
                }
                let ok = met(e) ?? (v <= target(e))
                svg += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(y(v)))\" r=\"4\" fill=\"\(ok ? "#38761d" : "#cc0000")\"><title>\(esc(e.time)): \(esc(DrillFormat.seconds(v)))</title></circle>"
            }
            if let first = points.first, let last = points.last {
                svg += "<text x=\"\(f(left))\" y=\"\(f(top + h + 16))\" font-size=\"10\" fill=\"#555\">\(esc(String(first.time.prefix(10))))</text>"
                svg += "<text x=\"\(f(left + w))\" y=\"\(f(top + h + 16))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(esc(String(last.time.prefix(10))))</text>"
            }
            s += svg + "</svg>"
        }
        return s + "<p class=muted>Each dot is one drill of this scenario (green: target met; red: missed); a red cross above the plot is a drill that did not recover. The dashed line is the current target.</p>"
    }

    package static func ticks(_ total: Double) -> [Double] {
        let raw = total / 8
        let mag = pow(10, floor(log10(max(raw, 1e-6))))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        return stride(from: 0.0, through: total, by: step).map { $0 }
    }

    package static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
