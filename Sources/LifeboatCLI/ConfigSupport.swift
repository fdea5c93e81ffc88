import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// Configs already parsed in this process, by path.
private let loadedConfigs = Locked<[String: LifeboatConfig]>([:])

/// The config file behind the shared repository options. Precedence everywhere: command-line
/// flags, then environment variables, then lifeboat.yml.
extension RepositoryOptions {
    var configFilePath: String? {
        if let p = configPath, !p.isEmpty { return p }
        return ProcessInfo.environmentValue("LIFEBOAT_CONFIG")
    }

    /// The parsed config, or nil when none is given. Parsed once per run: a command asks for
    /// it several times (locations, passphrase, lock options, sources), and two reads of a file
    /// edited in between could disagree.
    func loadConfig() throws -> LifeboatConfig? {
        guard let path = configFilePath else { return nil }
        if let loaded = loadedConfigs.withLock({ $0[path] }) { return loaded }
        let config = try ConfigLoader.load(path: path)
        loadedConfigs.withLock { $0[path] = config }
        return config
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
