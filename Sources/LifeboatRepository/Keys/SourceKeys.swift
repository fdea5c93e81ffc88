import Foundation
import LifeboatCore
import LifeboatStorage

/// Per-source keys, for crypto-shredding (`lifeboat shred --source NAME`).
///
/// A source with a key of its own has its pages, page tables and pack headers sealed and
/// identified with keys derived (HKDF, like the master keys) from 64 random bytes that are
/// stored in exactly one small object, `sourcekeys/<sha256>`, sealed with the master key of the
/// generation current when it was made. The material is never wrapped in a key slot: key files
/// get copied around, and a shred must not leave the key in an old one. Deleting the object
/// makes every blob of the source undecryptable by anyone holding the repository passphrase.
/// Manifests and index files stay sealed with the master key (listing, `check`, prune work).
///
/// Plaintext of a key object: "LBSK" ‖ u32 version ‖ u32 generation ‖ u64 created (ms) ‖
/// u32 source length ‖ source (UTF-8) ‖ 64 bytes of material.
/// After a shred the same kind holds a *shred record* (no key material): "LBSX" ‖ JSON, naming the
/// destroyed key objects and the packs they sealed, so `check` can tell those packs (unreadable
/// on purpose, waiting for prune) from damage, and the source keeps getting keys of its own.
public struct SourceKeyInfo: Sendable {
    public var id: String
    public var source: String
    /// Master key generation the key belongs to (a source gets a new key after `key rotate`).
    public var generation: UInt32
    public var createdMs: Int64
}

public struct ShredRecord: Codable, Sendable {
    public var source: String
    public var timeMs: Int64
    public var sourceKeys: [String]
    public var packs: [String]

    package init(source: String, timeMs: Int64, sourceKeys: [String], packs: [String]) {
        self.source = source
        self.timeMs = timeMs
        self.sourceKeys = sourceKeys
        self.packs = packs
    }
}

/// Everything under `sourcekeys/`, decrypted.
public struct SourceKeyDirectory: Sendable {
    public var keys: [SourceKeyInfo] = []
    public var shredded: [ShredRecord] = []
    /// Objects that fail authentication or do not parse: whose key they are is unknown.
    public var damaged: [(id: String, error: LifeboatError)] = []

    public func keys(of source: String) -> [SourceKeyInfo] { keys.filter { $0.source == source } }
    public func shreds(of source: String) -> [ShredRecord] { shredded.filter { $0.source == source } }
    /// A source has its own key once one was made for it; after a shred it gets a fresh one.
    public func hasOwnKey(_ source: String) -> Bool { !keys(of: source).isEmpty || !shreds(of: source).isEmpty }
    public var shreddedPacks: Set<String> { Set(shredded.flatMap(\.packs)) }
}

/// Which keys a blob, pack or snapshot is sealed with: a master key generation, or a source key.
public struct KeyTag: Hashable, Sendable {
    public var generation: UInt32
    public var sourceKey: String?

    package init(generation: UInt32, sourceKey: String? = nil) {
        self.generation = generation
        self.sourceKey = sourceKey
    }
}

extension Manifest {
    public var keyTag: KeyTag { KeyTag(generation: keyGeneration ?? 0, sourceKey: sourceKey) }
}

package enum SourceKeyFormat {
    package static let keyMagic: [UInt8] = Array("LBSK".utf8)
    package static let shredMagic: [UInt8] = Array("LBSX".utf8)

    package static func encodeKey(source: String, generation: UInt32, createdMs: Int64, material: SecretBytes) -> [UInt8] {
        let name = Array(source.utf8)
        var w = ByteWriter(capacity: 24 + name.count + MasterKeys.materialSize)
        w.raw(keyMagic)
        w.u32(1)
        w.u32(generation)
        w.u64(UInt64(bitPattern: createdMs))
        w.u32(UInt32(name.count))
        w.raw(name)
        var m = material.copyBytes()
        w.raw(m)
        SecretBytes.wipe(&m)
        return w.bytes
    }

    package enum Decoded {
        case key(SourceKeyInfo, MasterKeys)
        case shred(ShredRecord)
    }

    package static func decode(_ plain: [UInt8], id: String) throws -> Decoded {
        let malformed = LifeboatError(.corrupt, "source key object \(id.prefix(8)) is malformed")
        let magic = Array(plain.prefix(4))
        if magic == shredMagic {
            guard let r = try? JSONCoding.decode(ShredRecord.self, from: plain.dropFirst(4)) else { throw malformed }
            return .shred(r)
        }
        guard magic == keyMagic else { throw malformed }
        var r = ByteReader(plain, what: "source key object \(id.prefix(8))")
        _ = try r.raw(4)
        guard try r.u32() == 1 else { throw malformed }
        let generation = try r.u32()
        let created = Int64(bitPattern: try r.u64())
        let n = Int(try r.u32())
        guard n <= 1024 else { throw malformed }
        guard let source = String(bytes: try r.raw(n), encoding: .utf8) else { throw malformed }
        var material = try r.raw(MasterKeys.materialSize)
        guard r.isAtEnd else { throw malformed }
        let keys = try MasterKeys(material: SecretBytes(consuming: &material))
        return .key(SourceKeyInfo(id: id, source: source, generation: generation, createdMs: created), keys)
    }
}

extension Repository {
    /// Lists and decrypts every object under `sourcekeys/` (a few small objects).
    public func sourceKeyDirectory() throws -> SourceKeyDirectory {
        var dir = SourceKeyDirectory()
        for info in try backend.list(.sourceKeys).sorted(by: { $0.key.name < $1.key.name }) {
            do {
                switch try SourceKeyFormat.decode(try loadObject(info.key), id: info.key.name) {
                case .key(let k, let keys):
                    sourceKeyCache.withLock { $0[k.id] = keys }
                    dir.keys.append(k)
                case .shred(let s):
                    dir.shredded.append(s)
                }
            } catch let e as LifeboatError where e.provesDamage {
                dir.damaged.append((info.key.name, e))
            }
        }
        dir.keys.sort { ($0.source, $0.generation, $0.createdMs, $0.id) < ($1.source, $1.generation, $1.createdMs, $1.id) }
        return dir
    }

    /// Makes a new key for `source`, for the current master key generation.
    @discardableResult
    public func createSourceKey(source: String) throws -> SourceKeyInfo {
        let keys = try MasterKeys.generate()
        let now = Date().unixMilliseconds
        var plain = SourceKeyFormat.encodeKey(source: source, generation: keyring.current, createdMs: now, material: keys.material)
        defer { SecretBytes.wipe(&plain) }
        let stored = try storeObject(.sourceKeys, plain)
        sourceKeyCache.withLock { $0[stored.key.name] = keys }
        return SourceKeyInfo(id: stored.key.name, source: source, generation: keyring.current, createdMs: now)
    }

    /// The keys a snapshot of `source` is written with when the source has its own key: its key
    /// of the current generation, made now if there is none yet (first snapshot after
    /// `key rotate`, or after a shred). Nil: the source uses the master key.
    public func writingSourceKey(source: String) throws -> (id: String, keys: MasterKeys)? {
        let dir = try sourceKeyDirectory()
        // A damaged object could be this source's key: writing with the master key instead
        // would silently end its crypto-shredding, so stop and say so.
        if let bad = dir.damaged.first {
            throw LifeboatError(.corrupt, "source key object sourcekeys/\(bad.id.prefix(8)) is damaged (\(bad.error.message)); copy it back from a replica with 'lifeboat sync' or remove it, then retry")
        }
        guard dir.hasOwnKey(source) else { return nil }
        let info = try dir.keys(of: source).first { $0.generation == keyring.current } ?? createSourceKey(source: source)
        return (info.id, try sourceKeys(id: info.id, source: source))
    }

    /// The keys of one source key object; `source` is what the manifest naming it says.
    package func sourceKeys(id: String, source: String?, snapshot: String? = nil) throws -> MasterKeys {
        if let cached = sourceKeyCache.withLock({ $0[id] }) { return cached }
        let name = source ?? "?"
        let whose = snapshot.map { "snapshot \($0.prefix(8)) of source '\(name)'" } ?? "source '\(name)'"
        let plain: [UInt8]
        do { plain = try loadObject(ObjectKey(.sourceKeys, id)) } catch let e as LifeboatError where e.kind == .notFound {
            if let shred = (try? sourceKeyDirectory())?.shredded.first(where: { $0.sourceKeys.contains(id) }) {
                throw LifeboatError(.notFound, "\(whose) cannot be decrypted: its key was destroyed by 'lifeboat shred' at \(RFC3339.format(Date(unixMilliseconds: shred.timeMs))); nobody can read it any more, by design")
            }
            throw LifeboatError(.corrupt, "\(whose) cannot be decrypted: its source key sourcekeys/\(id.prefix(8)) is missing; copy it back from a replica with 'lifeboat sync' if one holds it")
        } catch let e as LifeboatError where e.kind == .corrupt {
            throw LifeboatError(.corrupt, "the source key of \(whose) (sourcekeys/\(id.prefix(8))) is damaged: \(e.message); copy it back from a replica with 'lifeboat sync' if one holds it")
        }
        guard case .key(let info, let keys) = try SourceKeyFormat.decode(plain, id: id), source == nil || info.source == source else {
            throw LifeboatError(.corrupt, "the source key sourcekeys/\(id.prefix(8)) does not belong to \(whose): the repository was damaged or tampered with")
        }
        sourceKeyCache.withLock { $0[id] = keys }
        return keys
    }

    /// The keys a pack or blob sealed under `tag` opens with.
    public func keys(tag: KeyTag, source: String? = nil) throws -> MasterKeys {
        guard let id = tag.sourceKey else { return try keyring.keys(generation: tag.generation) }
        return try sourceKeys(id: id, source: source)
    }

    /// A "no such snapshot" error, said more usefully when the source was shredded.
    public func explainingShred(_ e: LifeboatError, source: String?) -> LifeboatError {
        guard let source, let shred = (try? sourceKeyDirectory())?.shreds(of: source).last else { return e }
        return LifeboatError(.notFound, "source '\(source)' was shredded at \(RFC3339.format(Date(unixMilliseconds: shred.timeMs))): its backups were made unreadable on purpose and cannot be restored (\(e.message))")
    }
}
