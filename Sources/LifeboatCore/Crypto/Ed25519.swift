import CLibCrypto

/// Ed25519 signatures (OpenSSL), for drill reports an auditor can check against a public key
/// without trusting the directory they were found in.
public enum Ed25519 {
    public static let seedSize = 32
    public static let publicKeySize = 32
    public static let signatureSize = 64

    /// A new private key (its 32-byte seed), from the system's random source.
    public static func generateSeed() throws -> SecretBytes {
        try SecretBytes.random(count: seedSize)
    }

    public static func publicKey(seed: SecretBytes) throws -> [UInt8] {
        let key = try privateKey(seed)
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: publicKeySize)
        var len = publicKeySize
        guard EVP_PKEY_get_raw_public_key(key, &out, &len) == 1, len == publicKeySize else {
            throw LifeboatError(.internalError, "OpenSSL could not derive the Ed25519 public key")
        }
        return out
    }

    public static func sign(_ message: [UInt8], seed: SecretBytes) throws -> [UInt8] {
        let key = try privateKey(seed)
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { throw LifeboatError(.internalError, "OpenSSL: out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var sig = [UInt8](repeating: 0, count: signatureSize)
        var len = signatureSize
        // Ed25519 hashes the message itself: no digest is named.
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1,
              message.withUnsafeBufferPointer({ EVP_DigestSign(ctx, &sig, &len, $0.baseAddress, $0.count) }) == 1,
              len == signatureSize else {
            throw LifeboatError(.internalError, "OpenSSL could not sign with Ed25519")
        }
        return sig
    }

    /// True only for a valid signature of exactly this message by this key.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureSize, publicKey.count == publicKeySize,
              let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKeySize) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
        return message.withUnsafeBufferPointer { EVP_DigestVerify(ctx, signature, signature.count, $0.baseAddress, $0.count) } == 1
    }

    private static func privateKey(_ seed: SecretBytes) throws -> OpaquePointer {
        guard seed.count == seedSize else { throw LifeboatError(.usage, "an Ed25519 private key is \(seedSize) bytes, not \(seed.count)") }
        let key = seed.withUnsafeBytes { EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.bindMemory(to: UInt8.self).baseAddress, seedSize) }
        guard let key else { throw LifeboatError(.internalError, "OpenSSL refused the Ed25519 private key") }
        return key
    }
}
