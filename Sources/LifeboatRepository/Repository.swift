import Foundation
import LifeboatCore
import LifeboatStorage

/// An opened repository: a backend plus the master keys and settings needed to read and
/// write it. Whole objects (config, index files, snapshot manifests) are stored as
/// `0x01 ‖ AES-256-GCM(zstd(plaintext))`, with the object kind as authenticated data, and named
/// by the SHA-256 of the stored bytes, so `check` can verify them and nothing is overwritten.
public final class Repository: Sendable {
    public let backend: any Backend
    /// Every key generation this repository's key slot holds; `keys` is the current one,
    /// the only one new data is written with.
    public let keyring: Keyring
    public var keys: MasterKeys { keyring.currentKeys }
    public let config: RepositoryConfig
    /// Name of the key file (slot) the passphrase opened.
    public let keySlot: String
    /// Source keys read so far, by object id (see SourceKeys.swift).
    package let sourceKeyCache = Locked<[String: MasterKeys]>([:])

    /// Whole objects sealed with generation 0: 0x01 ‖ sealed. With a later generation:
    /// 0x02 ‖ u32 generation ‖ sealed (the generation is also authenticated data).
    package static let objectFormat: UInt8 = 1
    package static let objectFormatGeneration: UInt8 = 2
    package static let maxObjectSize = 1 << 30

    package init(backend: any Backend, keyring: Keyring, config: RepositoryConfig, keySlot: String) {
        self.backend = backend
        self.keyring = keyring
        self.config = config
        self.keySlot = keySlot
    }

    /// Creates a repository at an empty location.
    public static func initialize(backend: any Backend, passphrase: SecretBytes, objectLock: ObjectLockPolicy? = nil) throws -> Repository {
        if try backend.exists(.config) {
            throw LifeboatError(.exists, "\(backend.location) already holds a Lifeboat repository; nothing was changed")
        }
        // Before create(): an S3 bucket is then made (or checked) with Object Lock.
        applyObjectLock(ObjectLockRuntime(policy: objectLock), to: backend)
        try backend.create()
        let keys = try MasterKeys.generate()
        var config = try RepositoryConfig.fresh()
        config.objectLock = objectLock
        let keyFile = try KeyFile.create(master: keys, passphrase: passphrase)
        let keyBytes = try keyFile.encoded()
        let slot = SHA256.hex(keyBytes)
        try backend.put(ObjectKey(.keys, slot), keyBytes)
        let repo = Repository(backend: backend, keyring: Keyring(single: keys), config: config, keySlot: slot)
        // The config is written last: its presence is what marks the location as a repository.
        try backend.put(.config, try repo.seal(try JSONCoding.encode(config, keys: .asWritten), kind: "config"))
        return repo
    }

    /// Opens a repository, trying every key slot with the passphrase.
    public static func open(backend: any Backend, passphrase: SecretBytes) throws -> Repository {
        // Only a config the store says is missing means no repository: an unreachable store
        // says so itself.
        let configBytes: [UInt8]
        do { configBytes = try backend.get(.config) } catch let e as LifeboatError where e.kind == .notFound {
            throw LifeboatError(.repositoryMissing, "no Lifeboat repository at \(backend.location); create one with 'lifeboat init' or check --repo")
        }
        let keyObjects = try backend.list(.keys)
        guard !keyObjects.isEmpty else {
            throw LifeboatError(.corrupt, "the repository at \(backend.location) has no key files; it cannot be opened")
        }
        for info in keyObjects.sorted(by: { $0.key.name < $1.key.name }) {
            let file = try KeyFile.decode(try backend.get(info.key))
            guard let keyring = try file.unwrap(passphrase: passphrase) else { continue }
            let probe = Repository(backend: backend, keyring: keyring, config: try RepositoryConfig.fresh(), keySlot: info.key.name)
            guard let plain = try? probe.unseal(configBytes, kind: "config", name: "config") else {
                throw LifeboatError(.corrupt, "the repository config at \(backend.location) fails authentication; it was damaged or replaced")
            }
            guard let config = try? JSONCoding.decode(RepositoryConfig.self, from: plain, keys: .asWritten) else {
                throw LifeboatError(.corrupt, "the repository config at \(backend.location) is malformed")
            }
            guard config.version <= RepositoryConfig.currentVersion else {
                throw LifeboatError(.usage, "the repository at \(backend.location) has format version \(config.version); upgrade Lifeboat to read it")
            }
            applyObjectLock(ObjectLockRuntime(policy: config.objectLock), to: backend)
            return Repository(backend: backend, keyring: keyring, config: config, keySlot: info.key.name)
        }
        throw LifeboatError(.wrongPassword, "wrong passphrase: none of the \(keyObjects.count) key(s) of \(backend.location) opens with it; check LIFEBOAT_PASSWORD_FILE / LIFEBOAT_PASSWORD_COMMAND")
    }

    // MARK: whole objects

    public func seal(_ plaintext: [UInt8], kind: String) throws -> [UInt8] {
        let compressed = try ZstdCompressor(level: 3).compress(plaintext)
        let generation = keyring.current
        if generation == 0 {
            let sealed = try AEADContext(key: keys.encryption).seal(compressed, aad: Array("lifeboat:\(kind)".utf8))
            return [Self.objectFormat] + sealed
        }
        var header = ByteWriter(capacity: 5)
        header.u8(Self.objectFormatGeneration)
        header.u32(generation)
        let sealed = try AEADContext(key: keys.encryption).seal(compressed, aad: Array("lifeboat:\(kind):\(generation)".utf8))
        return header.bytes + sealed
    }

    public func unseal(_ stored: [UInt8], kind: String, name: String) throws -> [UInt8] {
        let damaged = LifeboatError(.corrupt, "\(kind) object \(name) fails authentication: it was damaged or tampered with")
        var generation: UInt32 = 0
        var body = ArraySlice(stored.dropFirst())
        var aad = Array("lifeboat:\(kind)".utf8)
        switch stored.first {
        case Self.objectFormat:
            break
        case Self.objectFormatGeneration:
            var r = ByteReader(Array(stored.prefix(5)), what: "\(kind) object \(name)")
            _ = try r.u8()
            generation = try r.u32()
            body = stored.dropFirst(5)
            aad = Array("lifeboat:\(kind):\(generation)".utf8)
        default:
            throw damaged
        }
        let key = try keyring.keys(generation: generation)
        guard let compressed = try AEADContext(key: key.encryption).open(Array(body), aad: aad) else { throw damaged }
        return try ZstdDecompressor().decompress(compressed, maxSize: Self.maxObjectSize)
    }

    /// The keys a snapshot's page table and pages are sealed with.
    public func keys(for manifest: Manifest) throws -> MasterKeys {
        if let id = manifest.sourceKey { return try sourceKeys(id: id, source: manifest.source) }
        return try keyring.keys(generation: manifest.keyGeneration ?? 0)
    }

    /// Stores a whole object under the SHA-256 of its stored bytes; returns the key and size.
    @discardableResult
    public func storeObject(_ kind: ObjectKind, _ plaintext: [UInt8]) throws -> (key: ObjectKey, size: Int) {
        let stored = try seal(plaintext, kind: kind.rawValue)
        let key = ObjectKey(kind, SHA256.hex(stored))
        try backend.put(key, stored)
        return (key, stored.count)
    }

    /// Loads a whole object and checks it is the object its name says (SHA-256) before decrypting.
    public func loadObject(_ key: ObjectKey) throws -> [UInt8] {
        let stored = try backend.get(key)
        guard SHA256.hex(stored) == key.name else {
            throw LifeboatError(.corrupt, "\(key.path) in \(backend.location) does not match its name: it was damaged or replaced")
        }
        return try unseal(stored, kind: key.kind.rawValue, name: key.name)
    }
}
