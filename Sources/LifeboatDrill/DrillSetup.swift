import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The drill's database (generated, copied or live) and its repositories (scratch ones
/// created, existing ones opened read-only).
extension DrillRunner {
    /// Fills `setup` as it goes, so a report of a setup that failed half way says how far it got.
    package func setUp(_ setup: inout DrillSetup) throws {
        let start = now
        let name = scenario.source.name
        switch scenario.source.origin {
        case .generate(let size, let seed, let journal):
            setup.databasePath = scratch + "/db/" + name
            say("generating a \(Units.formatBytes(size)) process database (\(journal.rawValue) mode)")
            let s = try ProcessDatabaseGenerator(options: .init(targetBytes: size, seed: seed, journalMode: journal)).generate(at: setup.databasePath)
            setup.databaseDescription = "generated process database in the drill's scratch directory (\(s.requests) requests, \(s.tasks) tasks, seed \(seed))"
            setup.journalMode = journal.rawValue
        case .copy(let path):
            setup.databasePath = scratch + "/db/" + name
            say("copying \(path) (read only) into the scratch directory")
            try Self.consistentCopy(of: path, to: setup.databasePath)
            setup.databaseDescription = "consistent copy of \(path) (VACUUM INTO; the original was only read)"
            setup.journalMode = try SQLiteConnection(path: setup.databasePath, mode: .readOnly).scalar("PRAGMA journal_mode")?.text
        case .live(let path):
            guard try FileIO.status(path)?.isRegularFile == true else {
                throw LifeboatError(.notFound, "live database \(path) does not exist; check source.live in \(scenario.file)")
            }
            setup.databasePath = path
            setup.databaseDescription = "live database \(path) (only read, never written)"
        }
        event("prepare database", "setup", from: start)

        let repoStart = now
        let passphrase = try SecretBytes.random(count: 32)
        setup.scratchPassphrase = passphrase
        for spec in scenario.repositories {
            if spec.isScratch {
                let dir = scratch + "/repos/" + spec.name
                setup.repositories.append(DrillRepository(spec: spec, backend: DrillBackend(LocalBackend(path: dir), readOnly: false, cutOff: spec.replicaOf == nil ? nil : cutOff), directory: dir))
            } else if let location = spec.location {
                setup.repositories.append(DrillRepository(spec: spec, backend: DrillBackend(try options.openBackend(location), readOnly: true), directory: nil))
            }
        }
        for i in setup.repositories.indices where setup.repositories[i].spec.isScratch && setup.repositories[i].spec.replicaOf == nil {
            setup.repositories[i].repository = try Repository.initialize(backend: setup.repositories[i].backend, passphrase: passphrase)
        }
        for r in setup.repositories where r.spec.isScratch {
            guard let of = r.spec.replicaOf, let primary = setup.repositories.first(where: { $0.spec.name == of }) else { continue }
            try replicate(primary, to: r)
        }
        let scratchCount = setup.repositories.filter(\.spec.isScratch).count
        if scratchCount > 0 {
            say("created \(scratchCount) scratch repositor\(scratchCount == 1 ? "y" : "ies") (random passphrase, kept in memory only)")
        }
        event("prepare repositories", "setup", from: repoStart)
    }

    /// A consistent copy of a database that may be in use: VACUUM INTO reads it inside one
    /// read transaction and never writes to it. The copy keeps the original's journal mode.
    package static func consistentCopy(of path: String, to target: String) throws {
        guard try FileIO.status(path)?.isRegularFile == true else {
            throw LifeboatError(.notFound, "database to copy \(path) does not exist; check source.copy")
        }
        let src = try SQLiteConnection(path: path, mode: .readOnly)
        let mode = try src.scalar("PRAGMA journal_mode")?.text?.lowercased()
        try src.execute("VACUUM INTO '\(target.replacingOccurrences(of: "'", with: "''"))'")
        if mode == "wal" {
            try SQLiteConnection(path: target).execute("PRAGMA journal_mode = WAL")
        }
    }
}
