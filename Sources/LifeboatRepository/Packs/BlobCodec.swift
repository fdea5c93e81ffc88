import LifeboatCore
import LifeboatStorage

/// Per-thread engine that turns plaintext blobs into stored blobs and back:
/// id = HMAC(plaintext); stored = AES-256-GCM(flag ‖ zstd(plaintext) or plaintext), with the
/// blob type and id as authenticated data. Opening checks the tag, decompresses, and checks
/// the plaintext against its id again, so a blob swapped for another valid one is caught.
///
/// A frame holds several pages: AES-256-GCM(flag ‖ count ‖ id ‖ id ‖ … ‖ zstd(page ‖ page ‖ …)),
/// with the type `framedPage` and a zero id as authenticated data. Each page keeps its own
/// keyed id (one index entry per page, with its slot). The frame carries its pages' ids inside
/// what it authenticates, so opening a page compares the id the index expects with the one the
/// frame was sealed with: a frame moved or swapped is caught without hashing the page again
/// (`recomputeIDs`, for `check --read-data`, hashes it too). Frames written before the ids
/// were stored (no `flagWithIDs` bit) are checked by hashing, as they always were.
/// Owns its scratch buffers: no allocation per page on the hot path.
public final class BlobCodec {
    public static let flagStored: UInt8 = 0
    public static let flagZstd: UInt8 = 1
    /// Set in a frame's flag byte when its header lists its pages' ids.
    public static let flagWithIDs: UInt8 = 0x80

    public let hasher: KeyedHash
    /// The keys it was made with, so another thread can get a codec of its own.
    public let keys: MasterKeys
    private let aead: AEADContext
    private let compressor: ZstdCompressor
    private let decompressor: ZstdDecompressor
    private var scratch: UnsafeMutableRawBufferPointer
    private let aadBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 17, alignment: 8)
    /// The last frame opened, decompressed, and the caller's key for it (pack and offset), so
    /// the pages of one frame are decrypted and decompressed once.
    private var frame = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
    private var frameKey: UInt64?
    private var frameCount = 0
    /// The opened frame's page ids, when it stores them (else empty: pages are hashed).
    private var frameIDs: [BlobID] = []
    /// Hash every opened page again even when its frame proves its id (check --read-data).
    public var recomputeIDs = false

    /// Most pages one frame may hold (a bound for reading, so a forged count cannot demand memory).
    public static let maxFramePages = 64

    public init(keys: MasterKeys, compressionLevel: Int32 = 1, maxBlobSize: Int = 65536) throws {
        self.keys = keys
        hasher = try KeyedHash(key: keys.identifiers)
        aead = try AEADContext(key: keys.encryption)
        compressor = try ZstdCompressor(level: compressionLevel)
        decompressor = try ZstdDecompressor()
        scratch = .allocate(byteCount: Self.sealedBound(maxBlobSize), alignment: 16)
    }

    deinit {
        scratch.deallocate()
        aadBuffer.deallocate()
        frame.deallocate()
    }

    /// Upper bound of a stored blob for a plaintext of n bytes.
    public static func sealedBound(_ n: Int) -> Int { 1 + max(ZstdCompressor.bound(n), n) + AEADContext.overhead }

    private func ensureScratch(_ n: Int) {
        // One byte more than a single blob needs: a frame's header has its page count too.
        let need = Self.sealedBound(n) + 1
        if scratch.count < need {
            scratch.deallocate()
            scratch = .allocate(byteCount: need, alignment: 16)
        }
    }

    /// Seals `plain` into `out` (at least `sealedBound(plain.count)` bytes); returns the size.
    public func seal(_ plain: UnsafeRawBufferPointer, type: BlobType, id: BlobID, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        ensureScratch(plain.count)
        return try sealBody(plain, headerBytes: 1, aad: fillAAD(type: type, id: id), into: out)
    }

    /// Compresses `plain` after the `headerBytes` already in `scratch` (the flag goes in byte
    /// 0), or stores it as is when that saves under 1/32, and seals the whole into `out`.
    private func sealBody(_ plain: UnsafeRawBufferPointer, headerBytes: Int, aad: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                          flagBits: UInt8 = 0) throws -> Int {
        var bodyLength: Int
        let body = UnsafeMutableRawBufferPointer(rebasing: scratch[headerBytes...])
        if let n = compressor.compress(plain, into: body), n < plain.count - plain.count / 32 {
            scratch[0] = Self.flagZstd | flagBits
            bodyLength = n
        } else {
            // Incompressible (attachments, encrypted columns): store as is, skip the work on open.
            scratch[0] = Self.flagStored | flagBits
            if let src = plain.baseAddress, let dst = body.baseAddress { dst.copyMemory(from: src, byteCount: plain.count) }
            bodyLength = plain.count
        }
        bodyLength += headerBytes
        return try aead.seal(UnsafeRawBufferPointer(rebasing: scratch[0..<bodyLength]), aad: aad, into: out)
    }

    public func seal(_ plain: [UInt8], type: BlobType, id: BlobID) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.sealedBound(plain.count))
        let n = try plain.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try seal(p, type: type, id: id, into: $0) } }
        out.removeSubrange(n...)
        return out
    }

    /// Upper bound of a sealed frame of `count` pages of `pageSize` bytes.
    public static func frameBound(pages count: Int, pageSize: Int) -> Int { sealedBound(count * pageSize) + 1 + 16 * count }

    /// Seals `count` pages (`pages` holds them back to back, `ids` their keyed ids in the same
    /// order) as one frame into `out` (at least `frameBound` bytes); returns the size.
    public func sealFrame(_ pages: UnsafeRawBufferPointer, ids: some Sequence<BlobID>, count: Int, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        precondition(count >= 1 && count <= Self.maxFramePages)
        ensureScratch(pages.count + 16 * count)
        scratch[1] = UInt8(count)
        var at = 2
        for id in ids.prefix(count) {
            // Storage order, as in index files (BlobID.bytes).
            withUnsafeBytes(of: (id.hi, id.lo)) { b in
                for i in 0..<16 { scratch[at + i] = b[i] }
            }
            at += 16
        }
        precondition(at == 2 + 16 * count, "a frame needs one id per page")
        let n = try sealBody(pages, headerBytes: at, aad: fillAAD(type: .framedPage, id: .zero), into: out, flagBits: Self.flagWithIDs)
        return n
    }

    /// Opens the blob at a location into `out` (exactly its raw length) and verifies its id.
    /// For a framed page, `slot` picks the page, and `frameKey` (unique per pack and offset)
    /// lets the next page of the same frame skip decryption and decompression.
    public func open(_ sealed: UnsafeRawBufferPointer, type: BlobType, slot: UInt8 = 0, id: BlobID,
                     into out: UnsafeMutableRawBufferPointer, frameKey: UInt64? = nil) throws {
        guard type == .framedPage else { return try openSingle(sealed, type: type, id: id, into: out) }
        if frameKey == nil || frameKey != self.frameKey {
            self.frameKey = nil
            try openFrame(sealed, id: id, pageSize: out.count)
            self.frameKey = frameKey
        }
        let s = Int(slot), n = out.count
        guard s < frameCount, let src = frame.baseAddress, let dst = out.baseAddress else {
            self.frameKey = nil
            throw Self.damaged(id)
        }
        dst.copyMemory(from: src + s * n, byteCount: n)
        // The frame's own word for the page's id (authenticated with it); else, or when asked
        // to, the page hashed again.
        var good = frameIDs.isEmpty || frameIDs[s] == id
        if good && (frameIDs.isEmpty || recomputeIDs) { good = hasher.id(UnsafeRawBufferPointer(out)) == id }
        guard good else {
            // Never reuse a frame that held a wrong page: a retry from another copy must decrypt anew.
            self.frameKey = nil
            throw Self.damaged(id)
        }
    }

    /// Decrypts and decompresses a whole frame into `frame`.
    private func openFrame(_ sealed: UnsafeRawBufferPointer, id: BlobID, pageSize: Int) throws {
        if scratch.count < sealed.count {
            scratch.deallocate()
            scratch = .allocate(byteCount: sealed.count, alignment: 16)
        }
        guard let n = aead.open(sealed, aad: fillAAD(type: .framedPage, id: .zero), into: scratch), n >= 2 else { throw Self.damaged(id) }
        let count = Int(scratch[1])
        guard count >= 1, count <= Self.maxFramePages, pageSize > 0 else { throw Self.damaged(id) }
        let raw = count * pageSize
        if frame.count < raw {
            frame.deallocate()
            frame = .allocate(byteCount: raw, alignment: 16)
        }
        var header = 2
        frameIDs.removeAll(keepingCapacity: true)
        if scratch[0] & Self.flagWithIDs != 0 {
            header += 16 * count
            guard n >= header else { throw Self.damaged(id) }
            for k in 0..<count {
                let at = 2 + 16 * k
                frameIDs.append(BlobID(scratch.loadUnaligned(fromByteOffset: at, as: UInt64.self),
                                       scratch.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)))
            }
        }
        let body = UnsafeRawBufferPointer(rebasing: scratch[header..<n])
        let out = UnsafeMutableRawBufferPointer(rebasing: frame[0..<raw])
        switch scratch[0] & ~Self.flagWithIDs {
        case Self.flagZstd:
            guard decompressor.decompress(body, into: out) == raw else { throw Self.damaged(id) }
        case Self.flagStored:
            guard body.count == raw, let src = body.baseAddress, let dst = out.baseAddress else { throw Self.damaged(id) }
            dst.copyMemory(from: src, byteCount: raw)
        default:
            throw Self.damaged(id)
        }
        frameCount = count
    }

    /// Everything a stored blob holds once authenticated: for a framed page, the whole frame
    /// (every page in it, whether listed or not), after checking the entry's own page. For
    /// searching the decrypted repository (tests proving that erased data is gone).
    package func plaintext(of sealed: [UInt8], entry e: PackEntry) throws -> [UInt8] {
        let page = try open(sealed, type: e.type, slot: e.slot, id: e.id, rawLength: Int(e.rawLength))
        guard e.type == .framedPage else { return page }
        return Array(frame[0..<(frameCount * Int(e.rawLength))])
    }

    /// Opens a blob stored on its own into `out` (exactly rawLength bytes) and verifies its id.
    private func openSingle(_ sealed: UnsafeRawBufferPointer, type: BlobType, id: BlobID, into out: UnsafeMutableRawBufferPointer) throws {
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

    public func open(_ sealed: [UInt8], type: BlobType, slot: UInt8 = 0, id: BlobID, rawLength: Int, frameKey: UInt64? = nil) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rawLength)
        try sealed.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try open(s, type: type, slot: slot, id: id, into: $0, frameKey: frameKey) } }
        return out
    }

    package static func damaged(_ id: BlobID) -> LifeboatError {
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
        guard let loc = index.location(id), Int(loc.pack) < index.packs.count else { throw Self.unindexed(id) }
        let key = ObjectKey(.data, index.packs[Int(loc.pack)])
        return try readRange(key, offset: Int(loc.offset), length: Int(loc.length)) { sealed in
            try codec.open(sealed, type: loc.type, slot: loc.slot, id: id, rawLength: Int(loc.rawLength))
        }
    }

    /// Reads several blobs through the index, in the order given. Blobs stored near each other
    /// in one pack (a table's leaves, which snapshots write to packs of their own) are read
    /// with one range read, and the ranges several at once on a network store: read one by one
    /// from S3, page-table leaves cost a round trip each (256 a GiB).
    public func readBlobs(_ ids: some Collection<BlobID>, index: BlobIndex, keys: MasterKeys) throws -> [[UInt8]] {
        let ids = Array(ids)
        let located: [(i: Int, loc: BlobLocation)] = try ids.enumerated().map { i, id in
            guard let loc = index.location(id), Int(loc.pack) < index.packs.count else { throw Self.unindexed(id) }
            return (i, loc)
        }.sorted { ($0.loc.pack, $0.loc.offset) < ($1.loc.pack, $1.loc.offset) }
        // Neighbours of one pack share a range read: gaps under 64 KiB read through, at most 8 MiB.
        let groups = PackRange.plan(count: located.count, maxGap: 64 << 10, maxSpan: 8 << 20) {
            (located[$0].loc.pack, located[$0].loc.offset, located[$0].loc.length)
        }
        let workers = max(1, min(groups.count, 2 * backend.preferredConcurrency))
        let codecs = UnsafeTransfer(try (0..<workers).map { _ in try BlobCodec(keys: keys) })
        let out = Locked([[UInt8]](repeating: [], count: ids.count))
        try Parallel.forEach(count: groups.count, workers: workers) { w, r in
            let range = groups[r], members = located[range.members], start = range.start
            let blobs = try self.readRange(ObjectKey(.data, index.packs[Int(range.pack)]), offset: start, length: range.end - start) { bytes in
                try members.map { m -> (Int, [UInt8]) in
                    let lo = Int(m.loc.offset) - start, hi = lo + Int(m.loc.length)
                    guard hi <= bytes.count else { throw LifeboatError(.corrupt, "pack range is shorter than the index says (truncated pack?)") }
                    return (m.i, try codecs.value[w].open(Array(bytes[lo..<hi]), type: m.loc.type, slot: m.loc.slot, id: ids[m.i], rawLength: Int(m.loc.rawLength)))
                }
            }
            out.withLock { for (i, blob) in blobs { $0[i] = blob } }
        }
        return out.current
    }

    package static func unindexed(_ id: BlobID) -> LifeboatError {
        LifeboatError(.corrupt, "blob \(id.hex.prefix(16)) is referenced but not in any index: the repository is missing data; run 'lifeboat check'")
    }

    /// Reads a range and decodes it; when the range is missing, unreachable or fails to decode,
    /// and the repository has other copies, the next copy is tried.
    public func readRange<T>(_ key: ObjectKey, offset: Int, length: Int, decode: ([UInt8]) throws -> T) throws -> T {
        try backend.firstGood({ try $0.getRange(key, offset: offset, length: length) }, validate: decode,
                              note: { location, _ in "\(key.path) read from \(location)" })
    }
}
