import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat demo …`: realistic process databases and write load for demos, drills and benchmarks.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate, change and load demo process databases (for demos, drills and benchmarks).",
        subcommands: [Generate.self, Mutate.self, Load.self, DiffPages.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a realistic BPM process database of a given size (requests, tasks, comments, attachments)."
        )

        @Argument(help: "Path of the database file to create.")
        var path: String

        @Option(help: "Size of the database, e.g. 64MiB or 1GiB.", transform: Units.parseBytes)
        var size: Int = 64 << 20

        @Option(help: "Seed: the same seed and size give the same file.")
        var seed: UInt64 = 1

        @Option(help: "Journal mode of the result: wal or delete.", transform: DemoParsing.journalMode)
        var journal: JournalMode = .wal

        @Option(name: .customLong("marker"), help: "A string to plant in the data (repeatable), to prove backups do not reveal it.")
        var markers: [String] = []

        @Flag(help: "Replace the file if it exists.")
        var force = false

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let generator = ProcessDatabaseGenerator(options: .init(
                    targetBytes: size, seed: seed, journalMode: journal, markers: markers, overwrite: force))
                let s = try generator.generate(at: path)
                if output.json {
                    try Output.json(s)
                } else if !output.quiet {
                    let rate = s.seconds > 0 ? Double(s.fileBytes) / s.seconds / 1_048_576 : 0
                    print("""
                        created \(s.path): \(Units.formatBytes(s.fileBytes)), \(s.pages) pages of \(s.pageSize) bytes, \
                        \(journal.rawValue) mode, in \(DemoParsing.seconds(s.seconds)) (\(Int(rate)) MiB/s)
                        rows: \(s.requests) requests, \(s.tasks) tasks, \(s.comments) comments, \(s.attachments) attachments
                        payload: text \(Units.formatBytes(s.textBytes)), JSON \(Units.formatBytes(s.jsonBytes)), \
                        attachments \(Units.formatBytes(s.blobBytes))
                        """)
                }
            }
        }
    }

    struct Mutate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a percentage of rows the way a workflow engine does (scattered updates, new requests)."
        )

        @Argument(help: "Path of a database made by 'demo generate'.")
        var path: String

        @Option(help: "Percentage of rows to update or insert, e.g. 1 for 1 %.")
        var percent: Double = 1

        @Option(help: "Seed: the same seed gives the same change.")
        var seed: UInt64 = 1

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let s = try ProcessDatabaseMutator(percent: percent, seed: seed).mutate(at: path)
                if output.json {
                    try Output.json(s)
                } else if !output.quiet {
                    print("""
                        changed \(s.rowsChanged) of \(s.rowsBefore) rows in \(DemoParsing.seconds(s.seconds)): \
                        \(s.rowsUpdated) updated, \(s.rowsInserted) inserted \
                        (\(s.requestsAdvanced) requests advanced, \(s.requestsCreated) started)
                        """)
                }
            }
        }
    }

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit marker transactions at a steady rate (for drills: RPO and torn-transaction checks).",
            discussion: "Without --duration it runs until interrupted (Ctrl-C or SIGTERM) and then reports."
        )

        @Argument(help: "Path of the database (created if missing).")
        var path: String

        @Option(help: "Commits per second.")
        var rate: Double = 200

        @Option(help: "How long to run, e.g. 5s or 2m.", transform: Units.parseDuration)
        var duration: Double?

        @Option(help: "Switch the database to this journal mode first: wal or delete.", transform: DemoParsing.journalMode)
        var journal: JournalMode?

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let load = try WriteLoad(path: path, options: .init(commitsPerSecond: rate, duration: duration, journalMode: journal))
                // Ctrl-C / SIGTERM end the load cleanly, so the last committed seq is still reported.
                signal(SIGINT, SIG_IGN)
                signal(SIGTERM, SIG_IGN)
                let sources = [SIGINT, SIGTERM].map { sig in
                    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                    source.setEventHandler { load.stop() }
                    source.resume()
                    return source
                }
                load.start()
                let r = try load.wait()
                sources.forEach { $0.cancel() }
                if output.json {
                    try Output.json(r)
                } else if !output.quiet {
                    let at = Date(timeIntervalSince1970: Double(r.lastCommittedAtMs) / 1000)
                    print("""
                        committed \(r.commits) transactions in \(DemoParsing.seconds(r.seconds)) \
                        (\((r.commitsPerSecond * 10).rounded() / 10)/s, \(r.journalMode) mode); \
                        last seq \(r.lastSeq) at \(DemoParsing.iso8601(at)) (\(r.lastCommittedAtMs) ms)
                        """)
                }
            }
        }
    }

    struct DiffPages: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff-pages",
            abstract: "Count the pages that differ between two SQLite database files (checkpoint WAL databases first)."
        )

        @Argument(help: "The first database file.")
        var a: String

        @Argument(help: "The second database file.")
        var b: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let r = try PageDiff.compare(a, b)
                if output.json {
                    struct Diff: Encodable {
                        let pageSize, pagesA, pagesB, changedPages, changedBytes: Int
                    }
                    try Output.json(Diff(pageSize: r.pageSize, pagesA: r.pagesA, pagesB: r.pagesB,
                                         changedPages: r.changedPages, changedBytes: r.changedBytes))
                } else if !output.quiet {
                    print("\(r.changedPages) of \(max(r.pagesA, r.pagesB)) pages changed (\(r.changedBytes) bytes, page size \(r.pageSize))")
                }
            }
        }
    }
}

/// Small helpers shared by the demo subcommands.
enum DemoParsing {
    static func journalMode(_ text: String) throws -> JournalMode {
        guard let mode = JournalMode(rawValue: text.lowercased()) else {
            throw LifeboatError(.usage, "unknown journal mode '\(text)': use wal or delete")
        }
        return mode
    }

    static func seconds(_ s: Double) -> String {
        "\((s * 100).rounded() / 100) s"
    }

    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
