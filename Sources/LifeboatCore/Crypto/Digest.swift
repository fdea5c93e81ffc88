import CLibCrypto

/// SHA-256 of public data (object names are SHA-256 of the stored, encrypted bytes;
/// S3 payload hashes). Keyed identifiers of content use `KeyedHash` instead.
public enum SHA256 {
    public static let size = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var len: UInt32 = 0
        out.withUnsafeMutableBufferPointer { o in
            requireOpenSSL(EVP_Digest(buffer.baseAddress, buffer.count, o.baseAddress, &len, EVP_sha256(), nil), "EVP_Digest")
        }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(hash(bytes)) }
}

/// SHA-256 of data that arrives in pieces (a file read in chunks, a table's rows).
public final class SHA256Stream {
    private let ctx: OpaquePointer

    public init() throws {
        guard let c = EVP_MD_CTX_new() else { throw LifeboatError(.internalError, "cannot set up SHA-256 (OpenSSL): out of memory") }
        guard EVP_DigestInit_ex(c, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(c)
            throw LifeboatError(.internalError, "cannot set up SHA-256 (OpenSSL)")
        }
        ctx = c
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        requireOpenSSL(EVP_DigestUpdate(ctx, buffer.baseAddress, buffer.count), "EVP_DigestUpdate")
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.size)
        var len: UInt32 = 0
        out.withUnsafeMutableBufferPointer { o in requireOpenSSL(EVP_DigestFinal_ex(ctx, o.baseAddress, &len), "EVP_DigestFinal_ex") }
        return out
    }
}
