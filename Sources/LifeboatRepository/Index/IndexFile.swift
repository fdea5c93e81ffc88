import LifeboatCore
import LifeboatStorage

/// An index file lists, for a set of packs, every blob each holds: what restore and dedup
/// need without reading pack headers. Stored as an encrypted whole object under index/.
public struct IndexFile: Sendable {
    public struct Pack: Sendable {
        public var name: String
        public var size: Int
        public var entries: [PackEntry]

        public init(name: String, size: Int, entries: [PackEntry]) {
            self.name = name
            self.size = size
            self.entries = entries
        }
    }

    public var packs: [Pack]

    public init(packs: [Pack]) { self.packs = packs }

    package static let magic: [UInt8] = Array("LBIX".utf8)

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 12 + packs.reduce(0) { $0 + 40 + $1.entries.count * PackEntry.encodedSize })
        w.raw(Self.magic)
        w.u32(PackEntry.formatVersion)
        w.u32(UInt32(packs.count))
        for p in packs {
            w.raw(Hex.decode(p.name) ?? [UInt8](repeating: 0, count: 32))
            w.u64(UInt64(p.size))
            w.u32(UInt32(p.entries.count))
            for e in p.entries { e.encode(into: &w) }
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> IndexFile {
        var r = ByteReader(bytes, what: "index \(name)")
        guard try r.raw(4) == magic else { throw LifeboatError(.corrupt, "index \(name) has an unknown format") }
        let version = try r.u32()
        guard PackEntry.readable(version) else { throw LifeboatError(.corrupt, "index \(name) has an unknown format") }
        let n = try r.count(elementSize: 44)
        var packs: [Pack] = []
        packs.reserveCapacity(n)
        for _ in 0..<n {
            let packName = Hex.encode(try r.raw(32))
            let size = try r.int(max: 1 << 48)
            let count = try r.count(elementSize: PackEntry.encodedSize(version: version))
            var entries: [PackEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try PackEntry.decode(&r, version: version)) }
            packs.append(Pack(name: packName, size: size, entries: entries))
        }
        guard r.isAtEnd else { throw LifeboatError(.corrupt, "index \(name) has trailing bytes") }
        return IndexFile(packs: packs)
    }
}
