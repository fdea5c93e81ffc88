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
