import ArgumentParser
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a new encrypted repository.")

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var objectLock: ObjectLockOptions

    func run() throws {
        try runReporting {
            let backend = try repo.backend()
            let lock = try objectLock.policy() ?? repo.loadConfig()?.objectLock
            let r = try Repository.initialize(backend: backend, passphrase: try repo.passphrase(), objectLock: lock)
            AuditLog(repository: r).record(operation: "init", source: nil, result: .ok, details: ["location": .string(backend.location)])
            if output.json {
                var out = ["id": r.config.id, "location": backend.location, "version": String(r.config.version)]
                if let lock { out["object_lock"] = lock.description }
                try Output.json(out)
            } else if !output.quiet {
                Output.line("created repository \(r.config.id.prefix(8)) at \(backend.location)")
                if let lock { Output.line("object lock: every new object in S3 is locked (\(lock)); local directories cannot be locked") }
                Output.line("keep the passphrase safe: without it the backups cannot be read by anyone")
            }
        }
    }
}
