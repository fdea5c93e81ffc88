/// Per-thread engine that turns plaintext blobs into stored blobs and back:
/// id = HMAC(plaintext); stored = AES-256-GCM(flag ‖ zstd(plaintext) or plaintext), with the
/// blob type and id as authenticated data. Opening checks the tag, decompresses, and checks
/// the plaintext against its id again, so a blob swapped for another valid one is caught.
/// Owns its scratch buffers: no allocation per page on the hot path.
public final class BlobCodec {
    public static let flagStored: UInt8 = 0
    public static let flagZstd: UInt8 = 1

    public let hasher: KeyedHash
    private let aead: AEADContext
    private let compressor: ZstdCompressor
    private let decompressor: ZstdDecompressor
    private var scratch: UnsafeMutableRawBufferPointer
    private let aadBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 17, alignment: 8)

    public init(keys: MasterKeys, compressionLevel: Int32 = 1, maxBlobSize: Int = 65536) throws {
        hasher = try KeyedHash(key: keys.identifiers)
        aead = try AEADContext(key: keys.encryption)
        compressor = try ZstdCompressor(level: compressionLevel)
        decompressor = try ZstdDecompressor()
        scratch = .allocate(byteCount: Self.sealedBound(maxBlobSize), alignment: 16)
    }

    deinit {
        scratch.deallocate()
        aadBuffer.deallocate()
    }

    /// Upper bound of a stored blob for a plaintext of n bytes.
    public static func sealedBound(_ n: Int) -> Int { 1 + max(ZstdCompressor.bound(n), n) + AEADContext.overhead }

    private func ensureScratch(_ n: Int) {
        let need = Self.sealedBound(n)
        if scratch.count < need {
            scratch.deallocate()
            scratch = .allocate(byteCount: need, alignment: 16)
        }
    }

    /// Seals `plain` into `out` (at least `sealedBound(plain.count)` bytes); returns the size.
    public func seal(_ plain: UnsafeRawBufferPointer, type: BlobType, id: BlobID, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        ensureScratch(plain.count)
        var bodyLength: Int
        let body = UnsafeMutableRawBufferPointer(rebasing: scratch[1...])
        if let n = compressor.compress(plain, into: body), n < plain.count - plain.count / 32 {
            scratch[0] = Self.flagZstd
            bodyLength = n
        } else {
            // Incompressible (attachments, encrypted columns): store as is, skip the work on open.
            scratch[0] = Self.flagStored
            if let src = plain.baseAddress, let dst = body.baseAddress { dst.copyMemory(from: src, byteCount: plain.count) }
            bodyLength = plain.count
        }
        bodyLength += 1
        return try aead.seal(UnsafeRawBufferPointer(rebasing: scratch[0..<bodyLength]), aad: fillAAD(type: type, id: id), into: out)
    }

    public func seal(_ plain: [UInt8], type: BlobType, id: BlobID) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.sealedBound(plain.count))
        let n = try plain.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try seal(p, type: type, id: id, into: $0) } }
        out.removeSubrange(n...)
        return out
    }

    /// Opens a stored blob into `out` (exactly rawLength bytes) and verifies its id.
    public func open(_ sealed: UnsafeRawBufferPointer, type: BlobType, id: BlobID, into out: UnsafeMutableRawBufferPointer) throws {
        ensureScratch(out.count)
        let n = aead.open(sealed, aad: fillAAD(type: type, id: id), into: scratch)
        guard let n, n >= 1 else { throw Self.damaged(id) }
        let body = UnsafeRawBufferPointer(rebasing: scratch[1..<n])
        switch scratch[0] {
        case Self.flagZstd:
            guard decompressor.decompress(body, into: out) == out.count else { throw Self.damaged(id) }
        case Self.flagStored:
            guard body.count == out.count, let src = body.baseAddress, let dst = out.baseAddress else { throw Self.damaged(id) }
            dst.copyMemory(from: src, byteCount: body.count)
        default:
            throw Self.damaged(id)
        }
        guard hasher.id(UnsafeRawBufferPointer(out)) == id else { throw Self.damaged(id) }
    }

    public func open(_ sealed: [UInt8], type: BlobType, id: BlobID, rawLength: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rawLength)
        try sealed.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try open(s, type: type, id: id, into: $0) } }
        return out
    }

    static func damaged(_ id: BlobID) -> LifeboatError {
        LifeboatError(.corrupt, "blob \(id.hex.prefix(16)) fails authentication: its pack was damaged or tampered with")
    }

    /// Writes the authenticated data of a blob, its type byte and id, into the 17-byte buffer.
    private func fillAAD(type: BlobType, id: BlobID) -> UnsafeRawBufferPointer {
        aadBuffer[0] = type.rawValue
        withUnsafeBytes(of: (id.hi, id.lo)) { idBytes in
            for i in 0..<16 { aadBuffer[1 + i] = idBytes[i] }
        }
        return UnsafeRawBufferPointer(aadBuffer)
    }
}

extension Repository {
    /// Reads one blob through the index (tables, single pages). Restore uses its own batched path.
    public func readBlob(_ id: BlobID, index: BlobIndex, codec: BlobCodec) throws -> [UInt8] {
        guard let loc = index.location(id), Int(loc.pack) < index.packs.count else {
            throw LifeboatError(.corrupt, "blob \(id.hex.prefix(16)) is referenced but not in any index: the repository is missing data; run 'lifeboat check'")
        }
        let key = ObjectKey(.data, index.packs[Int(loc.pack)])
        return try readRange(key, offset: Int(loc.offset), length: Int(loc.length)) { sealed in
            try codec.open(sealed, type: loc.type, id: id, rawLength: Int(loc.rawLength))
        }
    }

    /// Reads a range and decodes it; when the range is missing, unreachable or fails to decode,
    /// and the repository has other copies, the next copy is tried.
    public func readRange<T>(_ key: ObjectKey, offset: Int, length: Int, decode: ([UInt8]) throws -> T) throws -> T {
        guard let replicated = backend as? ReplicatedBackend, replicated.replicas.count > 1 else {
            return try decode(try backend.getRange(key, offset: offset, length: length))
        }
        var firstError: Error?
        for copy in 0..<replicated.replicas.count {
            do {
                let value = try decode(try replicated.getRange(key, offset: offset, length: length, replica: copy))
                if copy > 0 { replicated.noteFallback("\(key.path) read from \(replicated.replicas[copy].location)") }
                return value
            } catch {
                firstError = firstError ?? error
            }
        }
        throw firstError ?? LifeboatError(.notFound, "\(key.path) is unavailable")
    }
}
