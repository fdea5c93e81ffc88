import Foundation
import LifeboatCore
import LifeboatStorage

/// A key slot: the repository's keys wrapped (AES-256-GCM) by a key derived from one
/// passphrase with scrypt. Several slots can wrap the same keys. The file is plain JSON
/// because it must be readable before anything can be decrypted; it holds no secret in clear.
///
/// Version 1 (Lifeboat 0.1.0, still read) wraps the 64 bytes of generation-0 master material.
/// Version 2 wraps a `Keyring` (every generation) and binds the slot's descriptive fields
/// (created, host, user) as authenticated data, so no byte of a key file can change unnoticed:
/// the KDF parameters and salt are bound already, as they derive the wrapping key.
public struct KeyFile: Codable, Sendable {
    public var version: Int
    public var created: String
    public var kdf: String
    public var scrypt: ScryptParameters
    public var salt: String
    public var wrapped: String
    /// Who added the slot (shown by `key list`; not secret, not authenticated).
    public var host: String?
    public var user: String?

    package static let aad = Array("lifeboat:key".utf8)

    /// Authenticated data of a version-2 slot.
    package var keyringAAD: [UInt8] {
        Array("lifeboat:keyring\0\(created)\0\(host ?? "")\0\(user ?? "")".utf8)
    }

    public static func create(master: MasterKeys, passphrase: SecretBytes, parameters: ScryptParameters = .standard) throws -> KeyFile {
        try create(keyring: Keyring(single: master), passphrase: passphrase, parameters: parameters)
    }

    public static func create(keyring: Keyring, passphrase: SecretBytes, parameters: ScryptParameters = .standard) throws -> KeyFile {
        let salt = try SecureRandom.bytes(32)
        let kek = try KDF.scrypt(passphrase: passphrase, salt: salt, parameters: parameters)
        var material = keyring.encode()
        defer { SecretBytes.wipe(&material) }
        var file = KeyFile(version: 2, created: RFC3339.format(Date()), kdf: "scrypt", scrypt: parameters,
                           salt: Data(salt).base64EncodedString(), wrapped: "",
                           host: HostIdentity.hostName, user: HostIdentity.userName)
        file.wrapped = Data(try AEADContext(key: kek).seal(material, aad: file.keyringAAD)).base64EncodedString()
        return file
    }

    /// The keys, or nil when the passphrase does not open this slot.
    public func unwrap(passphrase: SecretBytes) throws -> Keyring? {
        guard kdf == "scrypt", version == 1 || version == 2,
              let salt = Data(base64Encoded: self.salt), salt.count >= 16,
              let sealed = Data(base64Encoded: wrapped) else {
            throw LifeboatError(.corrupt, "a key file of the repository is malformed")
        }
        let kek = try KDF.scrypt(passphrase: passphrase, salt: [UInt8](salt), parameters: scrypt)
        guard var material = try AEADContext(key: kek).open([UInt8](sealed), aad: version == 1 ? Self.aad : keyringAAD) else { return nil }
        defer { SecretBytes.wipe(&material) }
        if version == 2 { return try Keyring.decode(material) }
        guard material.count == MasterKeys.materialSize else {
            throw LifeboatError(.corrupt, "a key file of the repository holds a key of the wrong size")
        }
        return Keyring(single: try MasterKeys(material: SecretBytes(consuming: &material)))
    }

    public func encoded() throws -> [UInt8] {
        try JSONCoding.encode(self)
    }

    public static func decode(_ bytes: [UInt8]) throws -> KeyFile {
        do { return try JSONCoding.decode(KeyFile.self, from: bytes) } catch {
            throw LifeboatError(.corrupt, "a key file of the repository is malformed")
        }
    }
}

/// The repository's master keys: one for AES-256-GCM, one for the keyed blob identifiers,
/// both derived with HKDF from 64 random bytes that only ever leave memory wrapped.
public struct MasterKeys: Sendable {
    public static let materialSize = 64
    public let material: SecretBytes
    public let encryption: SecretBytes
    public let identifiers: SecretBytes

    public init(material: SecretBytes) throws {
        self.material = material
        encryption = try KDF.hkdf(material, salt: [], info: "lifeboat v1 encryption")
        identifiers = try KDF.hkdf(material, salt: [], info: "lifeboat v1 blob identifiers")
    }

    public static func generate() throws -> MasterKeys {
        try MasterKeys(material: SecretBytes.random(count: materialSize))
    }
}
