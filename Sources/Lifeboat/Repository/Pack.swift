/// Where a blob sits inside a pack, as recorded in pack headers and index files.
public struct PackEntry: Sendable, Equatable {
    public var type: BlobType
    public var id: BlobID
    public var offset: UInt32
    public var length: UInt32
    /// Plaintext size after decompression.
    public var rawLength: UInt32

    public init(type: BlobType, id: BlobID, offset: UInt32, length: UInt32, rawLength: UInt32) {
        self.type = type
        self.id = id
        self.offset = offset
        self.length = length
        self.rawLength = rawLength
    }

    static let encodedSize = 1 + 16 + 4 + 4 + 4

    func encode(into w: inout ByteWriter) {
        w.u8(type.rawValue)
        w.id(id)
        w.u32(offset)
        w.u32(length)
        w.u32(rawLength)
    }

    static func decode(_ r: inout ByteReader) throws -> PackEntry {
        let t = try r.u8()
        guard let type = BlobType(rawValue: t) else { throw LifeboatError(.corrupt, "unknown blob type \(t) in pack header or index") }
        return PackEntry(type: type, id: try r.id(), offset: try r.u32(), length: try r.u32(), rawLength: try r.u32())
    }
}

/// A pack file: many encrypted blobs back to back, then an encrypted header listing them and
/// the header's length (4 bytes). The header makes every pack self-describing, so a lost index
/// can be rebuilt from the packs alone.
public enum PackFormat {
    static let headerMagic: [UInt8] = Array("LBPK".utf8)
    static let headerAAD: [UInt8] = Array("lifeboat:pack-header".utf8)

    public static func encodeHeader(_ entries: [PackEntry], aead: AEADContext) throws -> [UInt8] {
        var w = ByteWriter(capacity: 12 + entries.count * PackEntry.encodedSize)
        w.raw(headerMagic)
        w.u32(1)
        w.u32(UInt32(entries.count))
        for e in entries { e.encode(into: &w) }
        let sealed = try aead.seal(w.bytes, aad: headerAAD)
        var trailer = ByteWriter()
        trailer.raw(sealed)
        trailer.u32(UInt32(sealed.count))
        return trailer.bytes
    }

    /// Parses the header of a complete pack and checks every entry lies inside the blob area.
    public static func decodeHeader(pack: [UInt8], aead: AEADContext, name: String) throws -> [PackEntry] {
        guard pack.count >= 4 else { throw LifeboatError(.corrupt, "pack \(name) is truncated") }
        var lr = ByteReader(Array(pack[(pack.count - 4)...]), what: "pack \(name)")
        let headerLength = Int(try lr.u32())
        guard headerLength >= AEADContext.overhead, headerLength <= pack.count - 4 else {
            throw LifeboatError(.corrupt, "pack \(name) is truncated or its header length is wrong")
        }
        let blobArea = pack.count - 4 - headerLength
        let sealed = Array(pack[blobArea..<(pack.count - 4)])
        guard let plain = aead.open(sealed, aad: headerAAD) else {
            throw LifeboatError(.corrupt, "the header of pack \(name) fails authentication")
        }
        var r = ByteReader(plain, what: "header of pack \(name)")
        guard try r.raw(4) == headerMagic, try r.u32() == 1 else { throw LifeboatError(.corrupt, "pack \(name) has an unknown header format") }
        let n = try r.count(elementSize: PackEntry.encodedSize)
        var entries: [PackEntry] = []
        entries.reserveCapacity(n)
        for _ in 0..<n {
            let e = try PackEntry.decode(&r)
            guard Int(e.offset) + Int(e.length) <= blobArea else {
                throw LifeboatError(.corrupt, "pack \(name) lists a blob beyond its end")
            }
            entries.append(e)
        }
        return entries
    }
}

