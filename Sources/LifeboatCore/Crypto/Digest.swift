import CLibCrypto

/// SHA-256 of public data (object names are SHA-256 of the stored, encrypted bytes;
/// S3 payload hashes). Keyed identifiers of content use `Mac` instead.
public enum SHA256 {
    public static let size = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var len: UInt32 = 0
        out.withUnsafeMutableBufferPointer { o in
            _ = EVP_Digest(buffer.baseAddress, buffer.count, o.baseAddress, &len, EVP_sha256(), nil)
        }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(hash(bytes)) }
}

/// Incremental SHA-256 for streams (drill reports, audit chain, large uploads).
public final class SHA256Stream {
    private let ctx: OpaquePointer?

    public init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ buffer: UnsafeRawBufferPointer) {
        EVP_DigestUpdate(ctx, buffer.baseAddress, buffer.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.size)
        var len: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(ctx, $0.baseAddress, &len) }
        return out
    }
}
