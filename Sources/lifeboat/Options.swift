import ArgumentParser
import Foundation
import Lifeboat

/// Options every repository command shares.
struct RepositoryOptions: ParsableArguments {
    @Option(name: .customLong("repo"), help: "Repository location (a directory). Default: $LIFEBOAT_REPOSITORY.")
    var repository: String?

    @Option(name: .customLong("config"), help: "Configuration file (lifeboat.yml). Default: $LIFEBOAT_CONFIG.")
    var configPath: String?

    func location() throws -> String {
        if let r = repository, !r.isEmpty { return r }
        if let r = ProcessInfo.environmentValue("LIFEBOAT_REPOSITORY") { return r }
        if let r = try configuredRepositories().first { return r }
        throw LifeboatError(.usage, "no repository given: pass --repo PATH, set LIFEBOAT_REPOSITORY or list repositories in the config file")
    }

    func backend() throws -> any Backend {
        LocalBackend(path: try location())
    }

    func open() throws -> Repository {
        let backend = try backend()
        return try Repository.open(backend: backend, passphrase: try passphrase())
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object on stdout instead of text.")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing but errors (for cron).")
    var quiet = false
}
