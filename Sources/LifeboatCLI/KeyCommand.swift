import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat key …`: passphrase slots and master-key rotation.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the repository's keys: passphrase slots and master-key rotation.",
        discussion: """
        Every slot wraps the same master keys with its own passphrase (scrypt N=2^15, r=8, p=1).
        A new passphrase comes from LIFEBOAT_NEW_PASSWORD_FILE or LIFEBOAT_NEW_PASSWORD_COMMAND,
        or is typed twice (without echo) at a terminal.
        """,
        subcommands: [List.self, Add.self, Remove.self, Passwd.self, Rotate.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the key slots (never anything secret).")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let slots = try repo.open().listKeySlots()
                if output.json { return try Output.json(slots) }
                if output.quiet { return }
                Output.line("  ID        CREATED (UTC)          USER@HOST                      KDF")
                for s in slots {
                    let who = "\(s.user ?? "?")@\(s.host ?? "?")"
                    let gens = s.generations.map { " generations \($0.map(String.init).joined(separator: ","))" } ?? ""
                    Output.line("\(s.current ? "*" : " ") \(s.id.prefix(8))  \(s.created.padding(toLength: 22, withPad: " ", startingAt: 0)) \(who.padding(toLength: 30, withPad: " ", startingAt: 0)) scrypt N=\(s.scryptN) r=\(s.scryptR) p=\(s.scryptP)\(gens)")
                }
                Output.line("\(slots.count) key(s); * = the one this passphrase opens")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a passphrase (a new key slot for the same master keys).")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let repository = try repo.open()
                let id = try audited(repository, "key add", details: { ["key": .string(String($0.prefix(8)))] }) {
                    try repository.addKeySlot(passphrase: try PassphraseSource.newPassphrase())
                }
                if output.json { return try Output.json(["id": id]) }
                if !output.quiet { Output.line("added key \(id.prefix(8))") }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key slot (not the last one, not the one in use).")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Id (or unique prefix) of the key to remove, from 'lifeboat key list'.")
        var id: String

        func run() throws {
            try runReporting {
                let repository = try repo.open()
                let full = try audited(repository, "key remove", details: { ["key": .string(String($0.prefix(8)))] }) {
                    let full = try repository.resolveKeySlot(id)
                    try repository.removeKeySlot(full)
                    return full
                }
                if output.json { return try Output.json(["removed": full]) }
                if !output.quiet { Output.line("removed key \(full.prefix(8))") }
            }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the passphrase of the key in use.")
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let repository = try repo.open()
                let old = repository.keySlot
                let id = try audited(repository, "key passwd", details: { ["key": .string(String($0.prefix(8))), "replaced": .string(String(old.prefix(8)))] }) {
                    try repository.changePassphrase(to: try PassphraseSource.newPassphrase())
                }
                if output.json { return try Output.json(["id": id, "removed": old]) }
                if !output.quiet { Output.line("passphrase changed: key \(old.prefix(8)) replaced by \(id.prefix(8))") }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new master key for all new data; old snapshots stay readable with the old one.",
            discussion: """
            What it protects: data written from now on cannot be read with an old master key or an old
            key slot, e.g. after a key or passphrase leak or a departure. The next snapshot of each
            source is stored in full under the new key (nothing is shared with data under the old key).
            What it does not protect: data already written stays encrypted with the old key (which the
            new key slot still holds to read it) until those snapshots are forgotten and pruned; copies
            an attacker already took stay readable with the old key. Other key slots cannot receive the
            new key without their passphrases: rotation removes them (--remove-other-keys); add them again
            afterwards with 'lifeboat key add'. Run it when no snapshot is in progress.
            """
        )
        @OptionGroup var repo: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Remove the other key slots (they cannot hold the new key); required when there are any.")
        var removeOtherKeys = false

        func run() throws {
            try runReporting {
                let backend = try repo.backend()
                // The same passphrase every other command uses: environment, else the config file's.
                let passphrase = try repo.passphrase()
                let repository = try Repository.open(backend: backend, passphrase: passphrase)
                let result: RotationResult
                do {
                    result = try repository.rotateMasterKey(passphrase: passphrase, removeOtherSlots: removeOtherKeys)
                } catch let e as LifeboatError {
                    AuditLog(repository: repository).record(operation: "key rotate", source: nil, result: .failed, error: e)
                    throw e
                }
                // Recorded with the new key: the repository is reopened with the new slot.
                let rotated = try Repository.open(backend: backend, passphrase: passphrase)
                AuditLog(repository: rotated).record(operation: "key rotate", source: nil, result: .ok, details: [
                    "generation": .int(Int(result.generation)), "key": .string(String(result.slot.prefix(8))),
                    "removed_keys": .int(result.removedSlots.count),
                ])
                if output.json { return try Output.json(result) }
                if !output.quiet {
                    Output.line("new master key generation \(result.generation) is used for all new data; key \(result.slot.prefix(8)) holds every generation")
                    Output.line("removed \(result.removedSlots.count) old key slot(s): \(result.removedSlots.map { String($0.prefix(8)) }.joined(separator: ", "))")
                    Output.line("the next snapshot of each source is stored in full; old snapshots stay readable until forgotten and pruned")
                }
            }
        }
    }
}
