import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat audit show|verify`: the tamper-evident record of every operation.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show or verify the audit trail (hash-chained, kept locally and encrypted in the repository).",
        discussion: "The local log is $LIFEBOAT_AUDIT_DIR/<repository id>.jsonl (default ~/.local/state/lifeboat/audit).",
        subcommands: [Show.self, Verify.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit records stored in the repository (every host), oldest first.")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Print this host's local log instead.")
        var local = false

        func run() throws {
            try runReporting {
                let log = AuditLog(repository: try repo.open())
                let lines = local ? try log.readLocal() : try log.readRepository { name, e in
                    Warnings.emit("audit object \(name.prefix(8)): \(e.message)")
                }
                var records: [AuditRecord] = []
                for line in lines {
                    guard let r = try? AuditRecord.decode(line: line) else {
                        Warnings.emit("skipping an audit line that does not parse; run 'lifeboat audit verify'")
                        continue
                    }
                    records.append(r)
                }
                if !local { records.sort { ($0.time, $0.chain, $0.seq) < ($1.time, $1.chain, $1.seq) } }
                if output.json { return try Output.json(records) }
                if output.quiet { return }
                for r in records {
                    let details = r.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    Output.line("\(r.time)  \(r.operation.padding(toLength: 11, withPad: " ", startingAt: 0)) \((r.source ?? "-").padding(toLength: 16, withPad: " ", startingAt: 0)) \(r.result.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(r.user)@\(r.host)  \(details)\(r.error.map { "  error: \($0)" } ?? "")")
                }
                Output.line("\(records.count) record(s)\(local ? " in \(log.path)" : " in the repository")")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the hash chains, the local log against the repository, and snapshots against the trail.",
            discussion: "Exits 13 and prints each broken record when anything was edited, removed or replayed."
        )
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let v = try AuditVerifier(log: AuditLog(repository: try repo.open())).run()
                if output.json {
                    try Output.json(v)
                } else if !output.quiet || !v.ok {
                    for p in v.problems {
                        Output.line("\(p.place): \(p.message)")
                        if let record = p.record { Output.line("  record: \(record)") }
                    }
                    if v.ok {
                        Output.line("audit trail intact: \(v.localRecords) local record(s), \(v.repositoryRecords) in the repository, \(v.chains) chain(s)")
                    }
                }
                if !v.ok { throw LifeboatError(.corrupt, "the audit trail is broken: \(v.problems.count) problem(s)") }
            }
        }
    }
}
