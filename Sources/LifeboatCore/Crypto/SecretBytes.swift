import CLibCrypto

/// Key material that lives in its own allocation and is wiped (OPENSSL_cleanse) when the
/// last reference goes away, so keys do not linger in freed heap memory.
// Unchecked: the raw buffer is not Sendable, but it is written only inside the initialiser
// (`fill`) and read-only afterwards, so sharing it between threads is safe.
public final class SecretBytes: @unchecked Sendable {
    /// At least one byte, so even an empty secret has an address to wipe.
    private let storage: UnsafeMutableRawBufferPointer

    /// The length of the secret in bytes (not of its allocation).
    public let count: Int

    /// `count` bytes written once by `fill` (a copy, the random generator, a KDF). If `fill`
    /// throws, what it wrote is wiped with the rest.
    package init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
        try fill(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// Copies `bytes` and wipes the caller's array copy it was given.
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(count: bytes.count) { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }
        SecretBytes.wipe(&bytes)
    }

    public static func random(count: Int) throws -> SecretBytes {
        try SecretBytes(count: count) { b in
            guard RAND_bytes(b.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(count)) == 1 else {
                throw LifeboatError(.internalError, "the system random number generator failed")
            }
        }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// The bytes as a NUL-terminated C string during `body`, for a C library that takes a
    /// password as a string and copies it (libcurl); the temporary copy is wiped afterwards.
    public func withUnsafeCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        let text = UnsafeMutablePointer<CChar>.allocate(capacity: count + 1)
        defer {
            OPENSSL_cleanse(text, count + 1)
            text.deallocate()
        }
        withUnsafeBytes { src in
            if let base = src.baseAddress { UnsafeMutableRawPointer(text).copyMemory(from: base, byteCount: src.count) }
        }
        text[count] = 0
        return try body(text)
    }

    /// A copy as an ordinary array: only for serialising into an encrypted key file; wipe it after.
    public func copyBytes() -> [UInt8] { withUnsafeBytes { Array($0) } }

    deinit {
        if let base = storage.baseAddress { OPENSSL_cleanse(base, storage.count) }
        storage.deallocate()
    }

    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { b in
            if let base = b.baseAddress { OPENSSL_cleanse(base, b.count) }
        }
        bytes.removeAll()
    }

    /// Constant-time comparison, for MACs and tags.
    public static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

public enum SecureRandom {
    public static func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw LifeboatError(.internalError, "the system random number generator failed") }
        return out
    }
}
