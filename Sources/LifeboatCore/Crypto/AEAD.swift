import CLibCrypto

/// AES-256-GCM with a random 96-bit nonce per message. Sealed layout: nonce ‖ ciphertext ‖ tag.
///
/// A context is reused for many messages by one thread (creating an EVP context per 4 KiB
/// page would dominate the cost), so it is deliberately not Sendable.
public final class AEADContext {
    public static let nonceSize = 12
    public static let tagSize = 16
    public static let overhead = nonceSize + tagSize

    // One context per direction, keyed once: per message only the nonce is set, so the key
    // schedule and cipher lookup are not repeated for every 4 KiB page.
    private let encryptCtx: OpaquePointer
    private let decryptCtx: OpaquePointer

    public init(key: SecretBytes) throws {
        guard key.count == 32 else { throw LifeboatError(.internalError, "an AES-256 key must be 32 bytes, not \(key.count)") }
        let e = EVP_CIPHER_CTX_new(), d = EVP_CIPHER_CTX_new()
        guard let e, let d else {
            EVP_CIPHER_CTX_free(e)
            EVP_CIPHER_CTX_free(d)
            throw LifeboatError(.internalError, "cannot set up AES-256-GCM (OpenSSL)")
        }
        encryptCtx = e
        decryptCtx = d
        let ok: Bool = key.withUnsafeBytes { k in
            let kp = k.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return EVP_EncryptInit_ex(e, EVP_aes_256_gcm(), nil, nil, nil) == 1
                && lb_gcm_set_ivlen(e, Int32(Self.nonceSize)) == 1
                && EVP_EncryptInit_ex(e, nil, nil, kp, nil) == 1
                && EVP_DecryptInit_ex(d, EVP_aes_256_gcm(), nil, nil, nil) == 1
                && lb_gcm_set_ivlen(d, Int32(Self.nonceSize)) == 1
                && EVP_DecryptInit_ex(d, nil, nil, kp, nil) == 1
        }
        guard ok else { throw LifeboatError(.internalError, "cannot set up AES-256-GCM (OpenSSL)") }
    }

    deinit {
        EVP_CIPHER_CTX_free(encryptCtx)
        EVP_CIPHER_CTX_free(decryptCtx)
    }

    /// Encrypts `plaintext` into `out` (which must hold plaintext.count + overhead bytes) and
    /// returns the number of bytes written.
    public func seal(_ plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        let total = plaintext.count + Self.overhead
        guard out.count >= total, let o = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw LifeboatError(.internalError, "encryption buffer too small")
        }
        guard RAND_bytes(o, Int32(Self.nonceSize)) == 1 else {
            throw LifeboatError(.internalError, "the system random number generator failed")
        }
        var len: Int32 = 0
        let ctx = encryptCtx
        let ok: Bool = {
            guard EVP_EncryptInit_ex(ctx, nil, nil, nil, o) == 1 else { return false }
            if aad.count > 0 {
                guard EVP_EncryptUpdate(ctx, nil, &len, aad.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1 else { return false }
            }
            if plaintext.count > 0 {
                guard EVP_EncryptUpdate(ctx, o + Self.nonceSize, &len, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1 else { return false }
            }
            guard EVP_EncryptFinal_ex(ctx, o + Self.nonceSize + plaintext.count, &len) == 1 else { return false }
            return lb_gcm_get_tag(ctx, o + Self.nonceSize + plaintext.count, Int32(Self.tagSize)) == 1
        }()
        guard ok else { throw LifeboatError(.internalError, "AES-256-GCM encryption failed (OpenSSL)") }
        return total
    }

    /// Decrypts and authenticates `sealed` into `out` (sealed.count - overhead bytes).
    /// Returns false when authentication fails: the bytes were changed or the key is wrong.
    public func open(_ sealed: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard sealed.count >= Self.overhead, let s = sealed.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let n = sealed.count - Self.overhead
        guard out.count >= n else { return nil }
        let o = out.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var len: Int32 = 0
        let ctx = decryptCtx
        let ok: Bool = {
            guard EVP_DecryptInit_ex(ctx, nil, nil, nil, s) == 1 else { return false }
            if aad.count > 0 {
                guard EVP_DecryptUpdate(ctx, nil, &len, aad.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1 else { return false }
            }
            if n > 0 {
                guard EVP_DecryptUpdate(ctx, o, &len, s + Self.nonceSize, Int32(n)) == 1 else { return false }
            }
            guard lb_gcm_set_tag(ctx, s + Self.nonceSize + n, Int32(Self.tagSize)) == 1 else { return false }
            var scratch: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &scratch) { EVP_DecryptFinal_ex(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &len) == 1 }
        }()
        return ok ? n : nil
    }

    // Array conveniences for small objects (key files, manifests, indexes).

    public func seal(_ plaintext: [UInt8], aad: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.overhead)
        _ = try plaintext.withUnsafeBytes { p in
            try aad.withUnsafeBytes { a in
                try out.withUnsafeMutableBytes { try seal(p, aad: a, into: $0) }
            }
        }
        return out
    }

    public func open(_ sealed: [UInt8], aad: [UInt8]) -> [UInt8]? {
        guard sealed.count >= Self.overhead else { return nil }
        var out = [UInt8](repeating: 0, count: sealed.count - Self.overhead)
        let n = sealed.withUnsafeBytes { s in
            aad.withUnsafeBytes { a in
                out.withUnsafeMutableBytes { open(s, aad: a, into: $0) }
            }
        }
        return n == nil ? nil : out
    }
}
