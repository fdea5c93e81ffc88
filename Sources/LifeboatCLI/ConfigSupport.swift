import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// The config file behind the shared repository options. Precedence everywhere: command-line
/// flags, then environment variables, then lifeboat.yml.
extension RepositoryOptions {
    var configFilePath: String? {
        if let p = configPath, !p.isEmpty { return p }
        return ProcessInfo.environmentValue("LIFEBOAT_CONFIG")
    }

    /// The parsed config, or nil when none is given.
    func loadConfig() throws -> LifeboatConfig? {
        try configFilePath.map { try ConfigLoader.load(path: $0) }
    }

    func configuredRepositories() throws -> [String] {
        try loadConfig()?.repositories ?? []
    }

    /// Every repository location, primary first (see `locations()`).
    func allLocations() throws -> [String] { try locations() }

    /// A backend for any location (replicas included).
    func backend(for location: String) throws -> any Backend {
        try openBackend(location: location, options: backendOptions())
    }

    /// The passphrase: LIFEBOAT_PASSWORD_FILE / _COMMAND / LIFEBOAT_PASSWORD when set, else the
    /// config's reference.
    func passphrase() throws -> SecretBytes {
        let names = ["LIFEBOAT_PASSWORD_FILE", "LIFEBOAT_PASSWORD_COMMAND", "LIFEBOAT_PASSWORD"]
        if names.contains(where: { ProcessInfo.environmentValue($0) != nil }) {
            return try PassphraseSource.fromEnvironment()
        }
        if let ref = try loadConfig()?.password {
            return try ref.resolve(purpose: "repository passphrase")
        }
        return try PassphraseSource.fromEnvironment()
    }

    func lockOptions(wait: String?) throws -> RepositoryLock.Options {
        var o = RepositoryLock.Options()
        if let stale = try loadConfig()?.lockStaleAfter { o.staleAfter = stale }
        if let wait { o.wait = try Units.parseDuration(wait) }
        return o
    }
}
