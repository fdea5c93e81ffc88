import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Copy to one copy of a repository whatever it lacks from another (new or lagging replica).",
        discussion: "Needs only read access to --from and write (PUT) access to --to; never deletes or overwrites. Every object is checked against its SHA-256 name before it is copied."
    )

    @Option(help: "Repository to copy from.")
    var from: String

    @Option(help: "Repository to copy to (created if empty).")
    var to: String

    @Option(help: ArgumentHelp("CA bundle for S3 endpoints with a private CA. Default: $LIFEBOAT_CACERT.", valueName: "file"))
    var cacert: String?

    @Flag(help: "Allow plain http:// S3 endpoints on loopback addresses only (test servers).")
    var allowInsecureHttp = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var objectLock: ObjectLockOptions

    func run() throws {
        try runReporting { try perform() }
    }

    private func perform() throws {
        do {
            let options = BackendOptions(caCertPath: cacert, allowInsecureHTTP: allowInsecureHttp)
            let source = try openBackend(location: from, options: options)
            let target = try openBackend(location: to, options: options)
            // Sync reads no config (it needs no passphrase): the lock comes from the flags.
            try objectLock.apply(to: target, stored: nil)
            var progress: (@Sendable (String) -> Void)? = nil
            if !output.quiet && !output.json {
                progress = { @Sendable line in Output.line("  " + line) }
            }
            let r = try Sync.run(from: source, to: target, progress: progress)
            reportDeleteMarkerReads(source)
            if output.json {
                try Output.json(r)
            } else if !output.quiet {
                let parts = r.copied.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                Output.line("copied \(parts) (\(Output.bytes(r.bytes))) from \(source.location) to \(target.location) in \(String(format: "%.1f", r.seconds)) s")
            }
            if !r.damaged.isEmpty {
                let sample = r.damaged.prefix(3).joined(separator: ", ")
                throw LifeboatError(.corrupt, "\(r.damaged.count) object(s) in \(source.location) are damaged and were not copied (\(sample)); run 'lifeboat check' on it")
            }
        }
    }
}
