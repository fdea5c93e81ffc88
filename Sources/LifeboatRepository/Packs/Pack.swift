import LifeboatCore
import LifeboatStorage

/// Where a blob sits inside a pack, as recorded in pack headers and index files.
public struct PackEntry: Sendable, Equatable {
    public var type: BlobType
    public var id: BlobID
    public var offset: UInt32
    public var length: UInt32
    /// Plaintext size after decompression (of this blob; for a framed page, of the page).
    public var rawLength: UInt32
    /// Position of a framed page in its frame (several entries share one frame's offset and
    /// length); 0 for every other blob.
    public var slot: UInt8

    public init(type: BlobType, id: BlobID, offset: UInt32, length: UInt32, rawLength: UInt32, slot: UInt8 = 0) {
        self.type = type
        self.id = id
        self.offset = offset
        self.length = length
        self.rawLength = rawLength
        self.slot = slot
    }

    /// Format 2 (written since frames exist) has the slot byte; format 1 had none.
    package static let encodedSize = 1 + 16 + 4 + 4 + 4 + 1
    package static func encodedSize(version: UInt32) -> Int { version == 1 ? encodedSize - 1 : encodedSize }
    package static let formatVersion: UInt32 = 2

    package func encode(into w: inout ByteWriter) {
        w.u8(type.rawValue)
        w.id(id)
        w.u32(offset)
        w.u32(length)
        w.u32(rawLength)
        w.u8(slot)
    }

    package static func decode(_ r: inout ByteReader, version: UInt32) throws -> PackEntry {
        let t = try r.u8()
        guard let type = BlobType(rawValue: t) else { throw LifeboatError(.corrupt, "unknown blob type \(t) in pack header or index") }
        var e = PackEntry(type: type, id: try r.id(), offset: try r.u32(), length: try r.u32(), rawLength: try r.u32())
        if version >= 2 { e.slot = try r.u8() }
        guard e.slot == 0 || type == .framedPage else { throw LifeboatError(.corrupt, "a blob that is not a framed page has a frame slot in a pack header or index") }
        return e
    }

    /// How many pages each frame among `entries` (one pack's) holds, by the frame's offset.
    package static func pagesPerFrame(_ entries: [PackEntry]) -> [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        for e in entries where e.type == .framedPage { counts[e.offset, default: 0] += 1 }
        return counts
    }

    /// Whether a pack header or index file format version is one this build reads.
    package static func readable(_ version: UInt32) -> Bool { version == 1 || version == 2 }
}

/// A pack file: many encrypted blobs back to back, then an encrypted header listing them and
/// the header's length (4 bytes). The header makes every pack self-describing, so a lost index
/// can be rebuilt from the packs alone.
public enum PackFormat {
    package static let headerMagic: [UInt8] = Array("LBPK".utf8)
    package static let headerAAD: [UInt8] = Array("lifeboat:pack-header".utf8)

    public static func encodeHeader(_ entries: [PackEntry], aead: AEADContext) throws -> [UInt8] {
        var w = ByteWriter(capacity: 12 + entries.count * PackEntry.encodedSize)
        w.raw(headerMagic)
        w.u32(PackEntry.formatVersion)
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
        guard try r.raw(4) == headerMagic else { throw LifeboatError(.corrupt, "pack \(name) has an unknown header format") }
        let version = try r.u32()
        guard PackEntry.readable(version) else { throw LifeboatError(.corrupt, "pack \(name) has an unknown header format") }
        let n = try r.count(elementSize: PackEntry.encodedSize(version: version))
        var entries: [PackEntry] = []
        entries.reserveCapacity(n)
        for _ in 0..<n {
            let e = try PackEntry.decode(&r, version: version)
            guard Int(e.offset) + Int(e.length) <= blobArea else {
                throw LifeboatError(.corrupt, "pack \(name) lists a blob beyond its end")
            }
            entries.append(e)
        }
        return entries
    }
}

