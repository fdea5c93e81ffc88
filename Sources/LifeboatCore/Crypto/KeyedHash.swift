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

    private let inner: OpaquePointer
    private let outer: OpaquePointer
    private let work: OpaquePointer

    public init(key: SecretBytes) throws {
        guard let i = EVP_MD_CTX_new(), let o = EVP_MD_CTX_new(), let w = EVP_MD_CTX_new() else {
            throw LifeboatError(.internalError, "cannot set up HMAC-SHA256 (OpenSSL)")
        }
        inner = i; outer = o; work = w
        var ipad = [UInt8](repeating: 0x36, count: 64)
        var opad = [UInt8](repeating: 0x5c, count: 64)
        key.withUnsafeBytes { k in
            for j in 0..<min(k.count, 64) {
                ipad[j] ^= k[j]
                opad[j] ^= k[j]
            }
        }
        EVP_DigestInit_ex(inner, EVP_sha256(), nil)
        EVP_DigestUpdate(inner, ipad, 64)
        EVP_DigestInit_ex(outer, EVP_sha256(), nil)
        EVP_DigestUpdate(outer, opad, 64)
        SecretBytes.wipe(&ipad)
        SecretBytes.wipe(&opad)
    }

    deinit {
        EVP_MD_CTX_free(inner)
        EVP_MD_CTX_free(outer)
        EVP_MD_CTX_free(work)
    }

    /// Writes the full 32-byte HMAC of `message` to `out`.
    public func mac(_ message: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) {
        var len: UInt32 = 0
        EVP_MD_CTX_copy_ex(work, inner)
        EVP_DigestUpdate(work, message.baseAddress, message.count)
        EVP_DigestFinal_ex(work, out, &len)
        EVP_MD_CTX_copy_ex(work, outer)
        EVP_DigestUpdate(work, out, 32)
        EVP_DigestFinal_ex(work, out, &len)
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
            EVP_MD_CTX_copy_ex(ctx, hash.inner)
        }

        deinit { EVP_MD_CTX_free(ctx) }

        public func update(_ part: UnsafeRawBufferPointer) {
            EVP_DigestUpdate(ctx, part.baseAddress, part.count)
        }

        /// The full 32-byte HMAC of everything given; the stream is spent.
        public func finish() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 32)
            var len: UInt32 = 0
            out.withUnsafeMutableBufferPointer { o in
                EVP_DigestFinal_ex(ctx, o.baseAddress, &len)
                EVP_MD_CTX_copy_ex(ctx, hash.outer)
                EVP_DigestUpdate(ctx, o.baseAddress, 32)
                EVP_DigestFinal_ex(ctx, o.baseAddress, &len)
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
