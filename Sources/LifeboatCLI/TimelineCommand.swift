import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatRepository
import LifeboatOperations

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Show what each source can be restored to: the ranges of replicated transactions, and any gap.",
        discussion: "Exit codes: 0, or 3 when a gap (transactions missing between two segments) is found."
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Only this source.") var source: String?

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let sources = try source.map { [$0] } ?? Array(Set(try repository.listSnapshots().map(\.manifest.source))).sorted()
            let timelines = try sources.map { try ReplicationTimeline.build(repository, source: $0) }
            if output.json {
                try Output.json(timelines)
            } else if !output.quiet {
                for t in timelines {
                    Output.line("\(t.source): \(t.plainSnapshots) snapshot(s) restorable to their own time")
                    for r in t.ranges {
                        Output.line("  \(r.from) … \(r.to)  any transaction (lineage \(r.lineage), seq \(r.fromSeq)–\(r.toSeq), \(r.segments) segment(s), \(r.snapshots) snapshot(s))")
                    }
                    for g in t.gaps {
                        Output.line("  GAP: transactions \(g.missingFrom)–\(g.missingTo) of lineage \(g.lineage) missing, between \(g.after) and \(g.before)")
                    }
                }
            }
            let gaps = timelines.flatMap(\.gaps)
            if !gaps.isEmpty {
                throw LifeboatError(.incomplete, "\(gaps.count) gap(s) in the replicated transactions (see above); run 'lifeboat sync' from a replica that holds them")
            }
        }
    }
}
