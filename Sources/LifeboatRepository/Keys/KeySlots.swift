import Foundation
import LifeboatCore
import LifeboatStorage

/// One key slot as `key list` shows it: never anything secret.
public struct KeySlotInfo: Codable, Sendable {
    public var id: String
    public var created: String
    public var host: String?
    public var user: String?
    public var kdf: String
    public var scryptN: UInt64
    public var scryptR: UInt64
    public var scryptP: UInt64
    /// Key generations the slot holds, when known (only for the slot that was opened).
    public var generations: [UInt32]?
    public var current: Bool
}

/// What `key rotate` did.
public struct RotationResult: Codable, Sendable {
    public var generation: UInt32
    public var slot: String
    public var removedSlots: [String]
}

/// Key slot management. Key files are named by the SHA-256 of their bytes and `put` never
/// overwrites, so every change is "write a new slot, then delete the old one": a crash in
/// between leaves one slot too many, never none.
extension Repository {
    public func listKeySlots() throws -> [KeySlotInfo] {
        try backend.list(.keys).map { info in
            let f = try KeyFile.decode(try backend.get(info.key))
            let isCurrent = info.key.name == keySlot
            return KeySlotInfo(id: info.key.name, created: f.created, host: f.host, user: f.user, kdf: f.kdf,
                               scryptN: f.scrypt.n, scryptR: f.scrypt.r, scryptP: f.scrypt.p,
                               generations: isCurrent ? keyring.generations : nil, current: isCurrent)
        }.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    /// Adds a slot for a new passphrase, wrapping the keys this repository was opened with.
    /// Refuses a passphrase that already opens a slot (it would only add a duplicate).
    @discardableResult
    public func addKeySlot(passphrase: SecretBytes, parameters: ScryptParameters = .standard) throws -> String {
        for info in try backend.list(.keys) {
            if try KeyFile.decode(try backend.get(info.key)).unwrap(passphrase: passphrase) != nil {
                throw LifeboatError(.exists, "that passphrase already opens key \(info.key.name.prefix(8)); choose a different one")
            }
        }
        return try writeKeySlot(keyring: keyring, passphrase: passphrase, parameters: parameters)
    }

    /// Resolves a unique prefix of a key slot id.
    public func resolveKeySlot(_ prefix: String) throws -> String {
        let p = prefix.lowercased()
        let matches = try backend.list(.keys).map(\.key.name).filter { $0.hasPrefix(p) }
        guard !p.isEmpty, !matches.isEmpty else { throw LifeboatError(.notFound, "no key with id \(prefix); list them with 'lifeboat key list'") }
        guard matches.count == 1 else { throw LifeboatError(.usage, "key id \(prefix) is ambiguous (\(matches.count) match); give more digits") }
        return matches[0]
    }

    /// Removes a slot. The last slot, and the slot in use, are refused: either would lock
    /// someone out (change the slot in use with `key passwd`).
    public func removeKeySlot(_ id: String) throws {
        let all = try backend.list(.keys).map(\.key.name)
        guard all.contains(id) else { throw LifeboatError(.notFound, "no key with id \(id.prefix(8))") }
        guard all.count > 1 else {
            throw LifeboatError(.usage, "key \(id.prefix(8)) is the repository's last key; removing it would make every backup unreadable")
        }
        guard id != keySlot else {
            throw LifeboatError(.usage, "key \(id.prefix(8)) is the one in use; change it with 'lifeboat key passwd', or open the repository with another key to remove it")
        }
        try backend.delete(ObjectKey(.keys, id))
    }

    /// Replaces the passphrase of the slot in use: new slot first, then the old one goes.
    public func changePassphrase(to newPassphrase: SecretBytes, parameters: ScryptParameters = .standard) throws -> String {
        let id = try addKeySlot(passphrase: newPassphrase, parameters: parameters)
        try backend.delete(ObjectKey(.keys, keySlot))
        return id
    }

    /// Adds a new master-key generation and makes it current for new data. The slot in use is
    /// replaced by one holding every generation (same passphrase). Other slots cannot be
    /// re-wrapped without their passphrases and would keep only the old keys, so rotation
    /// refuses while they exist unless `removeOtherSlots` says to delete them (re-add them
    /// afterwards with `key add`).
    public func rotateMasterKey(passphrase: SecretBytes, removeOtherSlots: Bool, parameters: ScryptParameters = .standard) throws -> RotationResult {
        let others = try backend.list(.keys).map(\.key.name).filter { $0 != keySlot }.sorted()
        if !others.isEmpty && !removeOtherSlots {
            throw LifeboatError(.usage, "the repository has \(others.count) other key(s) (\(others.map { String($0.prefix(8)) }.joined(separator: ", "))) that cannot receive the new master key without their passphrases; pass --remove-other-keys and add them again afterwards")
        }
        let next = try keyring.rotated()
        let slot = try writeKeySlot(keyring: next, passphrase: passphrase, parameters: parameters)
        var removed: [String] = []
        for id in [keySlot] + others {
            try backend.delete(ObjectKey(.keys, id))
            removed.append(id)
        }
        return RotationResult(generation: next.current, slot: slot, removedSlots: removed)
    }

    private func writeKeySlot(keyring: Keyring, passphrase: SecretBytes, parameters: ScryptParameters) throws -> String {
        let bytes = try KeyFile.create(keyring: keyring, passphrase: passphrase, parameters: parameters).encoded()
        let id = SHA256.hex(bytes)
        try backend.put(ObjectKey(.keys, id), bytes)
        return id
    }
}
