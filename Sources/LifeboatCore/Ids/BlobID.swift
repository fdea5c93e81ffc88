/// A 128-bit keyed identifier of a blob's plaintext (see `KeyedHash`). Stored as two words so
/// tables and the in-memory index hold it without allocation.
public struct BlobID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64

    public init(_ hi: UInt64, _ lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    public static let zero = BlobID(0, 0)

    /// Bytes in storage order (the first 16 bytes of the HMAC).
    public var bytes: [UInt8] {
        var v = (hi, lo)
        return withUnsafeBytes(of: &v) { Array($0) }
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var v = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &v) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        self.init(v.0, v.1)
    }

    public init?(hex: String) {
        guard let b = Hex.decode(hex) else { return nil }
        self.init(bytes: b)
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (a: BlobID, b: BlobID) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }
}

/// What a blob holds; part of the authenticated data of its encryption, so a page cannot be
/// passed off as a table and the other way round.
public enum BlobType: UInt8, Sendable {
    case page = 1
    case tableLeaf = 2
    case tableRoot = 3
    case tableDelta = 4
    /// A page stored with other new pages of the same snapshot in one sealed frame (compressing
    /// 16 pages together is faster and smaller than one by one); its entry's slot says which.
    case framedPage = 5

    /// A database page (alone or in a frame), as opposed to a part of a page table.
    public var isPage: Bool { self == .page || self == .framedPage }
}
