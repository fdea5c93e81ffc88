import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// Options every repository command shares.
struct RepositoryOptions: ParsableArguments {
    @Option(name: .customLong("repo"), help: ArgumentHelp(
        "Repository: a directory, s3:https://HOST[:PORT]/BUCKET[/PREFIX] or s3://BUCKET[/PREFIX]. Repeat for replicas (the first is the primary). Default: $LIFEBOAT_REPOSITORY.",
        valueName: "location"))
    var repositories: [String] = []

    @Option(help: ArgumentHelp("CA bundle for S3 endpoints with a private CA. Default: $LIFEBOAT_CACERT.", valueName: "file"))
    var cacert: String?

    @Flag(help: "Allow plain http:// S3 endpoints, and only on loopback addresses (test servers). Never use it for real data.")
    var allowInsecureHttp = false

    @Option(name: .customLong("config"), help: "Configuration file (lifeboat.yml). Default: $LIFEBOAT_CONFIG.")
    var configPath: String?

    /// Every repository location, primary first: --repo (repeatable), else LIFEBOAT_REPOSITORY,
    /// else the config file's list.
    func locations() throws -> [String] {
        if !repositories.isEmpty { return repositories }
        if let r = ProcessInfo.environmentValue("LIFEBOAT_REPOSITORY") { return [r] }
        let configured = try configuredRepositories()
        if !configured.isEmpty { return configured }
        throw LifeboatError(.usage, "no repository given: pass --repo LOCATION, set LIFEBOAT_REPOSITORY or list repositories in the config file")
    }

    func backendOptions() -> BackendOptions {
        BackendOptions(caCertPath: cacert, allowInsecureHTTP: allowInsecureHttp)
    }

    /// One backend, or every copy behind one `ReplicatedBackend` when --repo is repeated.
    func backend() throws -> any Backend {
        let all = try locations().map { try openBackend(location: $0, options: backendOptions()) }
        return all.count == 1 ? all[0] : ReplicatedBackend(all)
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

/// Tells the user which copies served reads in place of the primary.
func reportFallbacks(_ repository: Repository, quiet: Bool) {
    reportDeleteMarkerReads(repository.backend)
    let backend = repository.backend
    let notes = backend.fallbackNotes
    guard !notes.isEmpty else { return }
    let shown = notes.prefix(5).joined(separator: "; ")
    // The copy that served: the one the notes name first (sync only adds what is missing; a
    // damaged object takes repair, which finds it by reading every pack and replaces it).
    let copies = backend.replicas
    let source = copies.dropFirst().first { copy in notes.contains { $0.contains(copy.location) } } ?? copies[min(1, copies.count - 1)]
    Warnings.emit("\(notes.count) object(s) were read from a replica because the primary's copy was missing or damaged: \(shown)\(notes.count > 5 ? "; …" : ""); repair the primary with: lifeboat repair --repo \(copies[0].location) --from \(source.location) --read-data")
}
