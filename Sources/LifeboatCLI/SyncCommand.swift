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
        discussion: "Needs only read access to --from and write (PUT) access to --to; never deletes or overwrites. Every object is checked against its SHA-256 name before it is copied. With --repair, objects of --to that are damaged (truncated, or with --read-data any that does not match its name) are replaced with verified ones from --from: that deletes them first, so it needs the prune role's rights on --to."
    )

    @Flag(help: "Also replace damaged objects of --to with verified ones from --from (deletes them first: prune role).")
    var repair = false

    @Flag(help: "With --repair: read every object both copies hold, not only those whose sizes differ.")
    var readData = false

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
            var r = try Sync.run(from: source, to: target, progress: progress)
            if repair {
                let keys = try Sync.damagedObjects(in: target, comparedWith: source, readData: readData, progress: progress)
                r.repair = ObjectReplacer.replace(keys, in: target, from: [source], progress: progress)
            }
            reportDeleteMarkerReads(source)
            if output.json {
                try Output.json(r)
            } else if !output.quiet {
                let parts = r.copied.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                Output.line("copied \(parts) (\(Output.bytes(r.bytes))) from \(source.location) to \(target.location) in \(String(format: "%.1f", r.seconds)) s")
                if let fixed = r.repair {
                    Output.line("replaced \(fixed.replaced.count) damaged object(s) of \(target.location) with verified copies from \(source.location)")
                }
            }
            if let fixed = r.repair { try Self.judge(fixed, target: target, source: source) }
            if !r.damaged.isEmpty {
                let sample = r.damaged.prefix(3).joined(separator: ", ")
                throw LifeboatError(.corrupt, "\(r.damaged.count) object(s) in \(source.location) are damaged and were not copied (\(sample)); run 'lifeboat check' on it")
            }
        }
    }

    /// `--repair`: what could not be replaced fails the run, with the first reason.
    private static func judge(_ r: ReplaceResult, target: any Backend, source: any Backend) throws {
        if let (path, why) = r.refused.sorted(by: { $0.key < $1.key }).first {
            throw LifeboatError(.io, "\(r.refused.count) damaged object(s) of \(target.location) could not be replaced (\(path): \(why))")
        }
        if let (path, why) = r.unavailable.sorted(by: { $0.key < $1.key }).first {
            throw LifeboatError(.corrupt, "\(r.unavailable.count) damaged object(s) of \(target.location) have no intact copy in \(source.location) (\(path): \(why)); 'lifeboat repair' can store their pages again from the live database")
        }
    }
}
