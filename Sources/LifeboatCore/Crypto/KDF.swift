import CLibCrypto

/// scrypt parameters, stored with every key slot so they can be raised later without
/// breaking old slots.
public struct ScryptParameters: Codable, Sendable, Equatable {
    public var n: UInt64
    public var r: UInt64
    public var p: UInt64

    /// N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s here): OWASP's recommended minimum for scrypt.
    public static let standard = ScryptParameters(n: 1 << 15, r: 8, p: 1)

    /// Bounds that also cap the memory (1 GiB) and work a forged key file can make us spend.
    public var isSane: Bool {
        n >= 2 && n & (n - 1) == 0 && n <= 1 << 24 && r >= 1 && r <= 64 && p >= 1 && p <= 16
            && 128 * n * r <= 1 << 30 && n * r * p <= 1 << 28
    }
}

public enum KDF {
    /// Derives a 32-byte key-encryption key from a passphrase.
    public static func scrypt(passphrase: SecretBytes, salt: [UInt8], parameters: ScryptParameters) throws -> SecretBytes {
        guard parameters.isSane else {
            throw LifeboatError(.corrupt, "key file has implausible scrypt parameters; it may be damaged or forged")
        }
        let maxMemory = 128 * parameters.n * parameters.r * parameters.p + (1 << 20)
        return try SecretBytes(count: 32) { out in
            let ok: Int32 = passphrase.withUnsafeBytes { pw in
                salt.withUnsafeBufferPointer { s in
                    EVP_PBE_scrypt(pw.baseAddress?.assumingMemoryBound(to: CChar.self), pw.count,
                                   s.baseAddress, s.count, parameters.n, parameters.r, parameters.p, maxMemory,
                                   out.baseAddress?.assumingMemoryBound(to: UInt8.self), out.count)
                }
            }
            guard ok == 1 else { throw LifeboatError(.internalError, "scrypt key derivation failed (OpenSSL)") }
        }
    }

    /// HKDF-SHA256: derives independent sub-keys (encryption, identifiers) from master material.
    public static func hkdf(_ key: SecretBytes, salt: [UInt8], info: String, count: Int = 32) throws -> SecretBytes {
        let infoBytes = Array(info.utf8)
        return try SecretBytes(count: count) { out in
            let ok: Int32 = key.withUnsafeBytes { k in
                salt.withUnsafeBufferPointer { s in
                    infoBytes.withUnsafeBufferPointer { i in
                        lb_hkdf_sha256(k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, s.baseAddress, s.count,
                                       i.baseAddress, i.count, out.baseAddress?.assumingMemoryBound(to: UInt8.self), out.count)
                    }
                }
            }
            guard ok == 1 else { throw LifeboatError(.internalError, "HKDF key derivation failed (OpenSSL)") }
        }
    }
}
