import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat source-key create|list`: keys of their own for sources, for crypto-shredding.
struct SourceKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "source-key",
        abstract: "Give a source a key of its own, so 'lifeboat shred' can make its backups unreadable at once.",
        discussion: """
        A source key is 64 random bytes stored as one object (sourcekeys/), sealed with the master key
        and never copied into key slots. Snapshots of the source are then sealed with it; they share no
        data with other sources. Create it before the source's first snapshot: snapshots taken before
        stay under the master key.
        """,
        subcommands: [Create.self, List.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a source (its next snapshots use it).")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "The source (letters, digits, '.', '_', '-').") var source: String

        func validate() throws { try SourceName.validate(source) }

        func run() throws {
            try runReporting {
                let repository = try repo.open()
                let info = try audited(repository, "source-key create", source: source, details: { ["source_key": .string(String($0.id.prefix(8)))] }) {
                    let dir = try repository.sourceKeyDirectory()
                    if dir.keys(of: source).contains(where: { $0.generation == repository.keyring.current }) {
                        throw LifeboatError(.exists, "source '\(source)' already has its own key; nothing was changed")
                    }
                    return try repository.createSourceKey(source: source)
                }
                let all = try repository.listSnapshots()
                let before = all.filter { $0.manifest.source == source && $0.manifest.sourceKey == nil }.count
                let sources = Set(all.map(\.manifest.source))
                if !sources.isEmpty && !sources.contains(source) {
                    // Likely a typo (a source is named after its file, e.g. 'requests.db').
                    Warnings.emit("the repository has no snapshot of a source '\(source)' yet (its sources: \(sources.sorted().joined(separator: ", ")))")
                }
                if before > 0 {
                    Warnings.emit("\(before) earlier snapshot(s) of '\(source)' stay under the master key: shred forgets them, but only prune erases their data")
                }
                if output.json { return try Output.json(["id": info.id, "source": info.source]) }
                if !output.quiet { Output.line("source '\(source)' has its own key \(info.id.prefix(8)); its next snapshots are sealed with it") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List source keys and shredded sources (never anything secret).")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions

        struct Entry: Encodable {
            var id: String
            var source: String
            var generation: UInt32
            var created: String
        }

        struct Shred: Encodable {
            var source: String
            var time: String
            var keys: Int
            var packs: Int
        }

        func run() throws {
            try runReporting {
                let dir = try repo.open().sourceKeyDirectory()
                let keys = dir.keys.map { Entry(id: $0.id, source: $0.source, generation: $0.generation, created: RFC3339.format(Date(unixMilliseconds: $0.createdMs))) }
                let shreds = dir.shredded.map { Shred(source: $0.source, time: RFC3339.format(Date(unixMilliseconds: $0.timeMs)), keys: $0.sourceKeys.count, packs: $0.packs.count) }
                if output.json { try Output.json(["keys": AnyEncodable(keys), "shredded": AnyEncodable(shreds), "damaged": AnyEncodable(dir.damaged.map(\.id))]) }
                else if !output.quiet {
                    for k in keys { Output.line("\(k.id.prefix(8))  \(k.source)  generation \(k.generation)  created \(k.created)") }
                    for s in shreds { Output.line("shredded  \(s.source)  at \(s.time)  (\(s.keys) key(s), \(s.packs) pack(s))") }
                    for d in dir.damaged { Output.line("DAMAGED  sourcekeys/\(d.id.prefix(8)): \(d.error.message)") }
                    if keys.isEmpty && shreds.isEmpty && dir.damaged.isEmpty { Output.line("no source has a key of its own") }
                }
                if let bad = dir.damaged.first { throw LifeboatError(.corrupt, "source key object sourcekeys/\(bad.id.prefix(8)) is damaged: \(bad.error.message)") }
            }
        }
    }
}

/// Lets one JSON object hold arrays of different element types.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}
