import ArgumentParser
import Lifeboat

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a new encrypted repository.")

    @OptionGroup var repo: RepositoryOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReporting {
            let backend = try repo.backend()
            let r = try Repository.initialize(backend: backend, passphrase: try repo.passphrase())
            AuditLog(repository: r).record(operation: "init", source: nil, result: .ok, details: ["location": .string(backend.location)])
            if output.json {
                try Output.json(["id": r.config.id, "location": backend.location, "version": String(r.config.version)])
            } else if !output.quiet {
                Output.line("created repository \(r.config.id.prefix(8)) at \(backend.location)")
                Output.line("keep the passphrase safe: without it the backups cannot be read by anyone")
            }
        }
    }
}
