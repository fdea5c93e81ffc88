import CLibCrypto

/// HMAC-SHA256 with the repository's MAC key, truncated to 128 bits: the identifier of every
/// blob. Being keyed, an identifier reveals nothing about content to someone without the key
/// (a plain hash would let anyone confirm a guessed page), and it authenticates the plaintext
/// after decryption, so a swapped blob is caught.
///
/// The inner and outer pad states are computed once; each message then costs two context
/// copies instead of a full HMAC set-up. One instance per thread.
public final class KeyedHash {
    public static let idSize = 16
    private static let blockSize = 64

    private let inner: OpaquePointer
    private let outer: OpaquePointer
    private let work: OpaquePointer

    public convenience init(key: SecretBytes) throws {
        try self.init(key: key, digest: EVP_sha256())
    }

    /// `digest` is always SHA-256, except in tests of the error path (nil: one OpenSSL refuses).
    package init(key: SecretBytes, digest: OpaquePointer?) throws {
        let setUpFailed = LifeboatError(.internalError, "cannot set up HMAC-SHA256 (OpenSSL)")
        let i = EVP_MD_CTX_new(), o = EVP_MD_CTX_new(), w = EVP_MD_CTX_new()
        guard let i, let o, let w else {
            EVP_MD_CTX_free(i)
            EVP_MD_CTX_free(o)
            EVP_MD_CTX_free(w)
            throw setUpFailed
        }
        inner = i; outer = o; work = w
        // RFC 2104: a key longer than a block is hashed first; a shorter one is padded with zeros.
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        key.withUnsafeBytes { k in
            if k.count > Self.blockSize {
                var hashed = SHA256.hash(k)
                block.replaceSubrange(0..<hashed.count, with: hashed)
                SecretBytes.wipe(&hashed)
            } else {
                for j in 0..<k.count { block[j] = k[j] }
            }
        }
        var ipad = block.map { $0 ^ 0x36 }
        var opad = block.map { $0 ^ 0x5c }
        defer {
            SecretBytes.wipe(&block)
            SecretBytes.wipe(&ipad)
            SecretBytes.wipe(&opad)
        }
        guard EVP_DigestInit_ex(inner, digest, nil) == 1, EVP_DigestUpdate(inner, ipad, Self.blockSize) == 1,
              EVP_DigestInit_ex(outer, digest, nil) == 1, EVP_DigestUpdate(outer, opad, Self.blockSize) == 1 else {
            throw setUpFailed
        }
    }

    deinit {
        EVP_MD_CTX_free(inner)
        EVP_MD_CTX_free(outer)
        EVP_MD_CTX_free(work)
    }

    /// Writes the full 32-byte HMAC of `message` to `out`.
    public func mac(_ message: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) {
        var len: UInt32 = 0
        requireOpenSSL(EVP_MD_CTX_copy_ex(work, inner), "EVP_MD_CTX_copy_ex")
        requireOpenSSL(EVP_DigestUpdate(work, message.baseAddress, message.count), "EVP_DigestUpdate")
        requireOpenSSL(EVP_DigestFinal_ex(work, out, &len), "EVP_DigestFinal_ex")
        requireOpenSSL(EVP_MD_CTX_copy_ex(work, outer), "EVP_MD_CTX_copy_ex")
        requireOpenSSL(EVP_DigestUpdate(work, out, 32), "EVP_DigestUpdate")
        requireOpenSSL(EVP_DigestFinal_ex(work, out, &len), "EVP_DigestFinal_ex")
    }

    public func id(_ message: UnsafeRawBufferPointer) -> BlobID {
        var full = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &full) { raw in
            if let p = raw.baseAddress { mac(message, into: p.assumingMemoryBound(to: UInt8.self)) }
        }
        return BlobID(full.0, full.1)
    }

    public func id(_ bytes: [UInt8]) -> BlobID { bytes.withUnsafeBytes { id($0) } }

    /// The same HMAC over a message given in parts (a snapshot's page ids, as they are captured).
    public final class Stream {
        private let ctx: OpaquePointer
        /// Kept for its outer pad state.
        private let hash: KeyedHash

        fileprivate init(_ hash: KeyedHash) throws {
            guard let c = EVP_MD_CTX_new() else { throw LifeboatError(.internalError, "cannot set up HMAC-SHA256 (OpenSSL)") }
            ctx = c
            self.hash = hash
            guard EVP_MD_CTX_copy_ex(ctx, hash.inner) == 1 else { throw LifeboatError(.internalError, "cannot set up HMAC-SHA256 (OpenSSL)") }
        }

        deinit { EVP_MD_CTX_free(ctx) }

        public func update(_ part: UnsafeRawBufferPointer) {
            requireOpenSSL(EVP_DigestUpdate(ctx, part.baseAddress, part.count), "EVP_DigestUpdate")
        }

        /// The full 32-byte HMAC of everything given; the stream is spent.
        public func finish() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 32)
            var len: UInt32 = 0
            out.withUnsafeMutableBufferPointer { o in
                requireOpenSSL(EVP_DigestFinal_ex(ctx, o.baseAddress, &len), "EVP_DigestFinal_ex")
                requireOpenSSL(EVP_MD_CTX_copy_ex(ctx, hash.outer), "EVP_MD_CTX_copy_ex")
                requireOpenSSL(EVP_DigestUpdate(ctx, o.baseAddress, 32), "EVP_DigestUpdate")
                requireOpenSSL(EVP_DigestFinal_ex(ctx, o.baseAddress, &len), "EVP_DigestFinal_ex")
            }
            return out
        }
    }

    /// A stream whose `finish()` equals `mac(whole message)`.
    public func stream() throws -> Stream { try Stream(self) }

    public func mac(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { m in
            out.withUnsafeMutableBufferPointer { o in
                if let p = o.baseAddress { mac(m, into: p) }
            }
        }
        return out
    }
}
