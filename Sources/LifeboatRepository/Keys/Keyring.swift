import LifeboatCore
import LifeboatStorage

/// Every master key a repository has had, by generation. Generation 0 is the key made by
/// `init`; `key rotate` adds the next one and makes it current. New data (packs, page tables,
/// index files, manifests, audit records) is always written with the current generation; a
/// snapshot is entirely in one generation (its manifest records which), so old snapshots stay
/// readable with the old key while nothing new is written with it.
///
/// Serialised only inside a key slot's AES-GCM envelope: "LBKR" ‖ u32 version ‖ u32 count ‖
/// (u32 generation ‖ 64 bytes of material) per key.
public struct Keyring: Sendable {
    public let current: UInt32
    public let currentKeys: MasterKeys
    private let keys: [UInt32: MasterKeys]

    public init(generations: [UInt32: MasterKeys]) throws {
        // Generation 0 must be there: the repository config is sealed with it.
        guard let newest = generations.keys.max(), let keys = generations[newest], generations[0] != nil else {
            throw LifeboatError(.corrupt, "a key file of the repository holds no generation-0 key")
        }
        self.keys = generations
        current = newest
        currentKeys = keys
    }

    public init(single: MasterKeys) {
        keys = [0: single]
        current = 0
        currentKeys = single
    }

    public var generations: [UInt32] { keys.keys.sorted() }

    /// The keys of one generation, or a one-line error naming it.
    public func keys(generation: UInt32) throws -> MasterKeys {
        guard let k = keys[generation] else {
            throw LifeboatError(.corrupt, "data is encrypted with key generation \(generation), which this key slot does not hold (the repository has been rotated since, or the data is forged)")
        }
        return k
    }

    /// A keyring with one more generation, made current.
    public func rotated() throws -> Keyring {
        var next = keys
        next[current + 1] = try MasterKeys.generate()
        return try Keyring(generations: next)
    }

    package static let magic: [UInt8] = Array("LBKR".utf8)

    /// The serialised keyring; the caller wipes it after sealing.
    package func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 12 + keys.count * (4 + MasterKeys.materialSize))
        w.raw(Self.magic)
        w.u32(1)
        w.u32(UInt32(keys.count))
        for g in generations {
            w.u32(g)
            guard let k = keys[g] else { continue }
            var material = k.material.copyBytes()
            w.raw(material)
            SecretBytes.wipe(&material)
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws -> Keyring {
        var r = ByteReader(bytes, what: "keyring of a key file")
        guard try r.raw(4) == magic, try r.u32() == 1 else { throw LifeboatError(.corrupt, "a key file of the repository holds a keyring of unknown format") }
        let n = try r.count(elementSize: 4 + MasterKeys.materialSize)
        var out: [UInt32: MasterKeys] = [:]
        for _ in 0..<n {
            let g = try r.u32()
            var material = try r.raw(MasterKeys.materialSize)
            guard out[g] == nil else { throw LifeboatError(.corrupt, "a key file of the repository lists key generation \(g) twice") }
            out[g] = try MasterKeys(material: SecretBytes(consuming: &material))
        }
        guard r.isAtEnd else { throw LifeboatError(.corrupt, "a key file of the repository has trailing bytes in its keyring") }
        return try Keyring(generations: out)
    }
}
