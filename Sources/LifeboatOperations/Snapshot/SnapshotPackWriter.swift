import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// Where a snapshot's new blobs go: pages into data packs, page-table blobs into packs of
/// their own, each pack uploaded in the background as it fills, and index files written as
/// packs complete (32 at a time), so memory stays flat and a killed run leaves indexed packs
/// the next run can reuse.
final class SnapshotPackWriter {
    private let repo: Repository
    private let known: KnownBlobs
    /// Seals the page table's blobs (pages are sealed by the capture's workers).
    private let tableCodec: BlobCodec
    private let headerAEAD: AEADContext
    private let uploader: Uploader
    private let pagePack: PackBuilder
    /// Page-table blobs go to packs of their own, in order, so a table's leaves can be read
    /// 64 at a time with one range read (on S3, one leaf a round trip cost 1.2 s a GiB).
    /// 1 MiB: about 64 leaves, what one read of a table takes at a time.
    private let tablePack: PackBuilder
    /// Packs stored so far and not yet listed in an index file.
    private let storedPacks = Locked<[IndexFile.Pack]>([])
    private(set) var packCount = 0
    private(set) var bytesAdded = 0

    init(repo: Repository, known: KnownBlobs, tableCodec: BlobCodec, headerAEAD: AEADContext, uploadsInFlight: Int?) {
        self.repo = repo
        self.known = known
        self.tableCodec = tableCodec
        self.headerAEAD = headerAEAD
        uploader = Uploader(backend: repo.backend, inFlight: uploadsInFlight ?? max(2, repo.backend.preferredConcurrency))
        pagePack = PackBuilder(targetSize: repo.config.packSize)
        tablePack = PackBuilder(targetSize: min(repo.config.packSize, 1 << 20))
    }

    /// Adds one sealed frame of pages to the data pack.
    func addPageFrame(ids: some Collection<BlobID>, sealed: UnsafeRawBufferPointer, pageSize: Int) throws {
        pagePack.addFrame(ids: ids, sealed: sealed, pageSize: pageSize)
        if pagePack.isFull { try flush(pagePack) }
    }

    /// Stores one small blob (table parts) unless the repository already has it.
    func storeBlob(_ plain: [UInt8], type: BlobType) throws -> BlobID {
        let id = tableCodec.hasher.id(plain)
        if try known.contains(id) { return id }
        let sealed = try tableCodec.seal(plain, type: type, id: id)
        sealed.withUnsafeBytes { tablePack.add(type: type, id: id, sealed: $0, rawLength: plain.count) }
        try known.insert(id)
        if tablePack.isFull { try flush(tablePack) }
        return id
    }

    /// Stores what is left in both packs, waits for every upload, and lists every pack in an
    /// index file: after this a manifest may reference any blob this run stored.
    func finish() throws {
        try flush(pagePack)
        try flush(tablePack)
        try uploader.finish()
        try writeIndex(all: true)
    }

    /// Counts the manifest's bytes in what the run added.
    func addManifestBytes(_ size: Int) { bytesAdded += size }

    private func flush(_ pack: PackBuilder) throws {
        guard !pack.isEmpty else { return }
        let (bytes, entries) = try pack.finish(aead: headerAEAD)
        let size = bytes.count
        let builder = UnsafeTransfer(pack)
        let storedPacks = storedPacks
        try uploader.submit(.data, bytes, recycle: { builder.value.recycle(&$0) }) { name in
            storedPacks.withLock { $0.append(IndexFile.Pack(name: name, size: size, entries: entries)) }
        }
        bytesAdded += size
        packCount += 1
        try writeIndex(all: false)
    }

    private func writeIndex(all: Bool) throws {
        while true {
            let batch: [IndexFile.Pack] = storedPacks.withLock { packs in
                guard packs.count >= 32 || (all && !packs.isEmpty) else { return [] }
                let n = min(32, packs.count)
                defer { packs.removeFirst(n) }
                return Array(packs.prefix(n))
            }
            if batch.isEmpty { return }
            bytesAdded += try repo.storeObject(.index, IndexFile(packs: batch).encode()).size
        }
    }
}
