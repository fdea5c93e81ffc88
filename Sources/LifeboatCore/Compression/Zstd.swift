import CZstd

/// zstd compression with contexts reused across calls (one per thread; not Sendable).
public final class ZstdCompressor {
    private let cctx: OpaquePointer
    public let level: Int32

    public init(level: Int32 = 1) throws {
        guard let c = ZSTD_createCCtx() else { throw LifeboatError(.internalError, "cannot create zstd context") }
        cctx = c
        self.level = level
    }

    deinit { ZSTD_freeCCtx(cctx) }

    public static func bound(_ n: Int) -> Int { ZSTD_compressBound(n) }

    /// Compresses into `out`; returns the compressed size, or nil if it would not fit
    /// (the caller then stores the data uncompressed).
    public func compress(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        let n = ZSTD_compressCCtx(cctx, out.baseAddress, out.count, input.baseAddress, input.count, level)
        if ZSTD_isError(n) != 0 { return nil }
        return n
    }

    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.bound(input.count))
        let n = input.withUnsafeBytes { i in out.withUnsafeMutableBytes { compress(i, into: $0) } }
        guard let n else { throw LifeboatError(.internalError, "zstd compression failed") }
        out.removeSubrange(n...)
        return out
    }
}

public final class ZstdDecompressor {
    private let dctx: OpaquePointer

    public init() throws {
        guard let d = ZSTD_createDCtx() else { throw LifeboatError(.internalError, "cannot create zstd context") }
        dctx = d
    }

    deinit { ZSTD_freeDCtx(dctx) }

    /// Decompresses a frame whose size must be exactly `out.count`; nil when the input is damaged.
    public func decompress(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        let n = ZSTD_decompressDCtx(dctx, out.baseAddress, out.count, input.baseAddress, input.count)
        if ZSTD_isError(n) != 0 { return nil }
        return n
    }

    /// Decompresses a frame of a declared size (bounded, so a forged header cannot exhaust memory).
    public func decompress(_ input: [UInt8], maxSize: Int) throws -> [UInt8] {
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard declared != ZSTD_CONTENTSIZE_ERROR, declared != ZSTD_CONTENTSIZE_UNKNOWN, declared <= UInt64(maxSize) else {
            throw LifeboatError(.corrupt, "compressed object has an invalid or oversized header")
        }
        var out = [UInt8](repeating: 0, count: Int(declared))
        let n = input.withUnsafeBytes { i in out.withUnsafeMutableBytes { decompress(i, into: $0) } }
        guard n == Int(declared) else { throw LifeboatError(.corrupt, "compressed object does not decompress") }
        return out
    }
}
