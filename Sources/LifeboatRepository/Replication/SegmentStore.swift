import LifeboatCore
import LifeboatStorage

/// What a segment's object name says, so that a listing alone orders a source's segments
/// and finds those a restore needs: `<source tag>-<lineage>-<first seq>-<last seq>-<first ms>-<last ms>-<SHA-256>`
/// (hex). The source tag is keyed (a bucket listing does not give the names of the sources
/// away); the name's fields are bound into the sealed object's authenticated data, so a
/// renamed segment fails to open.
public struct SegmentName: Sendable, Hashable, Comparable {
    public let sourceTag: String
    public let lineage: String
    public let firstSeq: UInt64
    public let lastSeq: UInt64
    public let firstTimeMs: Int64
    public let lastTimeMs: Int64
    public let digest: String

    /// Everything but the digest: what the sealed bytes authenticate.
    public var prefix: String {
        [sourceTag, lineage, Self.hex16(firstSeq), Self.hex16(lastSeq), Self.hex16(UInt64(bitPattern: firstTimeMs)), Self.hex16(UInt64(bitPattern: lastTimeMs))].joined(separator: "-")
    }
    public var name: String { prefix + "-" + digest }
    public var key: ObjectKey { ObjectKey(.segments, name) }

    public init(sourceTag: String, lineage: String, firstSeq: UInt64, lastSeq: UInt64, firstTimeMs: Int64, lastTimeMs: Int64, digest: String) {
        self.sourceTag = sourceTag
        self.lineage = lineage
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.firstTimeMs = firstTimeMs
        self.lastTimeMs = lastTimeMs
        self.digest = digest
    }

    /// Nil for anything that is not a segment name (a listing skips it).
    public init?(_ name: String) {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 7, parts[0].count == 16, parts[1].count == 16, parts[6].count == 64,
              parts.allSatisfy({ $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } }),
              let a = UInt64(parts[2], radix: 16), let b = UInt64(parts[3], radix: 16), a <= b,
              let t0 = UInt64(parts[4], radix: 16), let t1 = UInt64(parts[5], radix: 16) else { return nil }
        self.init(sourceTag: parts[0], lineage: parts[1], firstSeq: a, lastSeq: b,
                  firstTimeMs: Int64(bitPattern: t0), lastTimeMs: Int64(bitPattern: t1), digest: parts[6])
    }

    public static func < (l: SegmentName, r: SegmentName) -> Bool {
        (l.lineage, l.firstSeq, l.lastSeq, l.digest) < (r.lineage, r.firstSeq, r.lastSeq, r.digest)
    }

    static func hex16(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }
}

/// A segment sealed once, ready to be stored in every replica.
public struct SealedSegment: Sendable {
    public let name: SegmentName
    public let bytes: [UInt8]
    public var key: ObjectKey { name.key }
}

extension Repository {
    static let segmentFormat: UInt8 = 1

    /// The keyed tag of a source's segment names (generation 0's identifier key: a key
    /// rotation does not rename a source's segments).
    public func segmentTag(source: String) throws -> String {
        let mac = try KeyedHash(key: try keyring.keys(generation: 0).identifiers).mac(Array("lifeboat segment source:\(source)".utf8))
        return String(Hex.encode(mac).prefix(16))
    }

    /// The keys a source's segments are sealed with: those its snapshots use (its own key when
    /// it has one, so `shred` destroys its transactions too). Reading them lists the source
    /// keys, so a long-running writer asks once, not every segment.
    public func segmentKeys(source: String) throws -> (id: String?, keys: MasterKeys) {
        let own = try writingSourceKey(source: source)
        return (own?.id, own?.keys ?? keys)
    }

    /// Compresses and seals a segment and names it.
    public func sealSegment(_ segment: Segment, keys given: (id: String?, keys: MasterKeys)? = nil) throws -> SealedSegment {
        let sealing = try given ?? segmentKeys(source: segment.source)
        let own = sealing.id
        let keys = sealing.keys
        var head = ByteWriter(capacity: 80)
        head.u8(Self.segmentFormat)
        head.u32(keyring.current)
        let keyID = Array((own ?? "").utf8)
        head.u8(UInt8(keyID.count))
        head.raw(keyID)
        let draft = SegmentName(sourceTag: try segmentTag(source: segment.source), lineage: segment.lineage, firstSeq: segment.firstSeq,
                                lastSeq: segment.lastSeq, firstTimeMs: segment.firstTimeMs, lastTimeMs: segment.lastTimeMs, digest: "")
        let compressed = try ZstdCompressor(level: 3).compress(segment.encode())
        let sealed = try AEADContext(key: keys.encryption).seal(compressed, aad: Array("lifeboat:segments:\(draft.prefix)".utf8) + head.bytes)
        let bytes = head.bytes + sealed
        let name = SegmentName(sourceTag: draft.sourceTag, lineage: draft.lineage, firstSeq: draft.firstSeq, lastSeq: draft.lastSeq,
                               firstTimeMs: draft.firstTimeMs, lastTimeMs: draft.lastTimeMs, digest: SHA256.hex(bytes))
        return SealedSegment(name: name, bytes: bytes)
    }

    /// Loads a segment: the bytes must hash to the name's digest, open under the name's fields,
    /// and hold what the name says (source, lineage, sequence range, times).
    public func loadSegment(_ name: SegmentName, source: String) throws -> Segment {
        let stored = try backend.get(name.key)
        let what = "segment \(name.lineage)/\(name.firstSeq)-\(name.lastSeq) of '\(source)'"
        guard SHA256.hex(stored) == name.digest else {
            throw LifeboatError(.corrupt, "\(what) (\(name.key.path)) does not match its name: it was damaged or replaced")
        }
        var r = ByteReader(Array(stored.prefix(261)), what: what)
        guard try r.u8() == Self.segmentFormat else { throw LifeboatError(.corrupt, "\(what) has an unknown format") }
        let generation = try r.u32()
        let keyIDLength = Int(try r.u8())
        guard let keyID = String(bytes: try r.raw(keyIDLength), encoding: .utf8) else { throw LifeboatError(.corrupt, "\(what) is malformed") }
        let headLength = 6 + keyIDLength
        let keys = keyID.isEmpty ? try keyring.keys(generation: generation) : try sourceKeys(id: keyID, source: source)
        guard let compressed = try AEADContext(key: keys.encryption).open(Array(stored.dropFirst(headLength)),
                                                                          aad: Array("lifeboat:segments:\(name.prefix)".utf8) + Array(stored.prefix(headLength))) else {
            throw LifeboatError(.corrupt, "\(what) fails authentication: it was damaged, renamed or tampered with")
        }
        let segment = try Segment.decode(try ZstdDecompressor().decompress(compressed, maxSize: Self.maxObjectSize), what: what)
        guard segment.source == source, segment.lineage == name.lineage, segment.firstSeq == name.firstSeq, segment.lastSeq == name.lastSeq,
              segment.firstTimeMs == name.firstTimeMs, segment.lastTimeMs == name.lastTimeMs else {
            throw LifeboatError(.corrupt, "\(what) does not hold what its name says: it was renamed or tampered with")
        }
        return segment
    }

    /// The segment names of one source, in lineage and sequence order; from one copy of the
    /// repository (`in`, e.g. one replica) instead of all of them when given.
    public func listSegments(source: String, in copy: (any Backend)? = nil) throws -> [SegmentName] {
        let tag = try segmentTag(source: source)
        return try (copy ?? backend).list(.segments).compactMap { SegmentName($0.key.name) }.filter { $0.sourceTag == tag }.sorted()
    }
}
