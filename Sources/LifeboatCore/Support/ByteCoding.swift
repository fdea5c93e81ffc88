/// Little-endian binary encoding for the repository's compact structures (index, tables).
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    public mutating func id(_ id: BlobID) {
        // Storage order of the id bytes is the in-memory order of (hi, lo) on this little-endian machine.
        withUnsafeBytes(of: (id.hi, id.lo)) { bytes.append(contentsOf: $0) }
    }
}

/// Bounds-checked reader: any read past the end throws `.corrupt` instead of crashing,
/// which is what makes the on-disk parsers safe against damaged or hostile input.
public struct ByteReader {
    private let bytes: [UInt8]
    public private(set) var offset: Int
    private let what: String

    public init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.offset = 0
        self.what = what
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw LifeboatError(.corrupt, "\(what) is truncated or malformed") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    public mutating func u8() throws -> UInt8 { try take(1).first ?? 0 }

    public mutating func u32() throws -> UInt32 {
        let s = try take(4)
        var v: UInt32 = 0
        for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    public mutating func u64() throws -> UInt64 {
        let s = try take(8)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    /// A u64 that must fit a sane Int (a forged 2^63 would trap on conversion).
    public mutating func int(max: Int) throws -> Int {
        let v = try u64()
        guard v <= UInt64(max) else { throw LifeboatError(.corrupt, "\(what) holds an implausible size") }
        return Int(v)
    }

    public mutating func raw(_ n: Int) throws -> [UInt8] { Array(try take(n)) }

    public mutating func id() throws -> BlobID {
        let s = try take(16)
        var v = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &v) { dst in
            for (i, b) in s.enumerated() { dst[i] = b }
        }
        return BlobID(v.0, v.1)
    }

    /// A count that must be plausible for the bytes left (guards allocations against forged counts).
    public mutating func count(elementSize: Int) throws -> Int {
        let n = Int(try u32())
        guard n <= remaining / max(elementSize, 1) else { throw LifeboatError(.corrupt, "\(what) declares more entries than it holds") }
        return n
    }
}
