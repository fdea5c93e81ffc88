import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct UnlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Remove stale locks (left by killed runs); list the others.",
        discussion: """
        A lock is stale when its process is gone (same host) or it was not refreshed for the config's
        lock.stale_after (default 30m). Runs take over stale locks by themselves; this is for the rest.
        --remove-all also removes live locks: only when you know no other run is active.
        """
    )

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Remove every lock, including those of runs that look alive.") var removeAll = false

    struct Row: Encodable {
        var id: String
        var holder: String
        var stale: Bool
        var removed: Bool
    }

    func run() throws {
        try runReporting {
            let repository = try repo.open()
            let staleAfter = try repo.lockOptions(wait: nil).staleAfter
            let removed = try Locks.remove(repository, all: removeAll, staleAfter: staleAfter)
            let left = try Locks.list(repository, staleAfter: staleAfter)
            let rows = removed.map { Row(id: $0.key.name, holder: $0.record?.summary ?? "unreadable lock", stale: $0.stale, removed: true) }
                + left.map { Row(id: $0.key.name, holder: $0.record?.summary ?? "unreadable lock", stale: $0.stale, removed: false) }
            if output.json { return try Output.json(rows) }
            if output.quiet { return }
            for r in rows {
                Output.line("\(r.removed ? "removed" : "kept   ") \(r.id.prefix(8))  \(r.stale ? "stale " : "active")  \(r.holder)")
            }
            Output.line("\(removed.count) lock(s) removed, \(left.count) left")
        }
    }
}
