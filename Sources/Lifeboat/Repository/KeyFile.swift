import Foundation

/// A key slot: the master key material wrapped (AES-256-GCM) by a key derived from one
/// passphrase with scrypt. Several slots can wrap the same master key. The file is plain JSON
/// because it must be readable before anything can be decrypted; it holds no secret in clear.
public struct KeyFile: Codable, Sendable {
    public var version: Int
    public var created: String
    public var kdf: String
    public var scrypt: ScryptParameters
    public var salt: String
    public var wrapped: String

    static let aad = Array("lifeboat:key".utf8)

    public static func create(master: MasterKeys, passphrase: SecretBytes, parameters: ScryptParameters = .standard) throws -> KeyFile {
        let salt = try SecureRandom.bytes(32)
        let kek = try KDF.scrypt(passphrase: passphrase, salt: salt, parameters: parameters)
        var material = master.material.copyBytes()
        defer { SecretBytes.wipe(&material) }
        let sealed = try AEADContext(key: kek).seal(material, aad: aad)
        return KeyFile(version: 1, created: RFC3339.format(Date()), kdf: "scrypt", scrypt: parameters,
                       salt: Data(salt).base64EncodedString(), wrapped: Data(sealed).base64EncodedString())
    }

    /// The master keys, or nil when the passphrase does not open this slot.
    public func unwrap(passphrase: SecretBytes) throws -> MasterKeys? {
        guard kdf == "scrypt", let salt = Data(base64Encoded: self.salt), let sealed = Data(base64Encoded: wrapped) else {
            throw LifeboatError(.corrupt, "a key file of the repository is malformed")
        }
        let kek = try KDF.scrypt(passphrase: passphrase, salt: [UInt8](salt), parameters: scrypt)
        guard var material = try AEADContext(key: kek).open([UInt8](sealed), aad: Self.aad) else { return nil }
        guard material.count == MasterKeys.materialSize else {
            SecretBytes.wipe(&material)
            throw LifeboatError(.corrupt, "a key file of the repository holds a key of the wrong size")
        }
        return try MasterKeys(material: SecretBytes(consuming: &material))
    }

    public func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return [UInt8](try enc.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> KeyFile {
        do { return try JSONDecoder().decode(KeyFile.self, from: Data(bytes)) } catch {
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
