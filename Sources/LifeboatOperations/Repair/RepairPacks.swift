import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// New packs for the blobs a repair stores again, one builder per key (a pack's header is
/// sealed with the key its blobs are sealed with, as a snapshot's are), and an index file
/// listing them: written as packs fill, so a killed repair leaves at most unindexed packs.
package final class RepairPacks {
    private let repo: Repository
    private var builders: [KeyTag: (builder: PackBuilder, aead: AEADContext)] = [:]
    /// Packs stored and not yet in an index file, and every pack stored.
    private var written: [IndexFile.Pack] = []
    private var stored: [IndexFile.Pack] = []
    package private(set) var packs = 0
    package private(set) var bytes = 0
    package private(set) var blobs = 0

    package init(repo: Repository) {
        self.repo = repo
    }

    private func builder(_ tag: KeyTag, keys: MasterKeys) throws -> PackBuilder {
        if let b = builders[tag] { return b.builder }
        let b = PackBuilder(targetSize: repo.config.packSize)
        builders[tag] = (b, try AEADContext(key: keys.encryption))
        return b
    }

    /// A blob still sealed as it was (a single blob, or a frame with the members wanted of it).
    package func addSealed(_ sealed: UnsafeRawBufferPointer, entries: [PackEntry], tag: KeyTag, keys: MasterKeys) throws {
        guard let e = entries.first else { return }
        let b = try builder(tag, keys: keys)
        if e.type == .framedPage {
            b.addFrame(members: entries.map { (id: $0.id, slot: $0.slot) }, sealed: sealed, pageSize: Int(e.rawLength))
        } else {
            b.add(type: e.type, id: e.id, sealed: sealed, rawLength: Int(e.rawLength))
        }
        blobs += entries.count
        if b.isFull { try flush(tag) }
    }

    /// Pages sealed anew as one frame (`pages`: count × pageSize bytes).
    package func addPages(_ pages: UnsafeRawBufferPointer, ids: [BlobID], pageSize: Int, tag: KeyTag, codec: BlobCodec) throws {
        guard !ids.isEmpty else { return }
        var sealed = [UInt8](repeating: 0, count: BlobCodec.frameBound(pages: ids.count, pageSize: pageSize))
        let n = try sealed.withUnsafeMutableBytes { try codec.sealFrame(pages, ids: ids, count: ids.count, into: $0) }
        let b = try builder(tag, keys: codec.keys)
        sealed.withUnsafeBytes { b.addFrame(ids: ids, sealed: UnsafeRawBufferPointer(rebasing: $0[0..<n]), pageSize: pageSize) }
        blobs += ids.count
        if b.isFull { try flush(tag) }
    }

    private func flush(_ tag: KeyTag) throws {
        guard let (b, aead) = builders[tag], !b.isEmpty else { return }
        let done = try b.finish(aead: aead)
        let name = SHA256.hex(done.bytes)
        do { try repo.backend.put(ObjectKey(.data, name), done.bytes) } catch let e as LifeboatError where e.kind == .exists {}
        written.append(IndexFile.Pack(name: name, size: done.bytes.count, entries: done.entries))
        stored.append(written[written.count - 1])
        packs += 1
        bytes += done.bytes.count
        if written.count >= 32 { try writeIndex() }
    }

    private func writeIndex() throws {
        guard !written.isEmpty else { return }
        bytes += try repo.storeObject(.index, IndexFile(packs: written).encode()).size
        written = []
    }

    /// Stores what is left and the index file: only then are the blobs found by restores.
    /// Returns every pack stored, for the caller's index.
    package func finish() throws -> [IndexFile.Pack] {
        for tag in builders.keys.sorted(by: { ($0.generation, $0.sourceKey ?? "") < ($1.generation, $1.sourceKey ?? "") }) {
            try flush(tag)
        }
        try writeIndex()
        defer { stored = [] }
        return stored
    }
}
