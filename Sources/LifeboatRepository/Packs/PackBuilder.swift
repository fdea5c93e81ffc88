import Foundation
import LifeboatCore
import LifeboatStorage

/// Collects sealed blobs into one pack until it reaches the target size.
package final class PackBuilder {
    package private(set) var bytes: [UInt8] = []
    package private(set) var entries: [PackEntry] = []
    package let targetSize: Int
    /// A finished pack's buffer, given back once uploaded: reusing it spares the page faults of
    /// a fresh 9 MiB allocation per pack (about 2,300 each).
    private let spare = Locked<[UInt8]?>(nil)

    package init(targetSize: Int) {
        self.targetSize = targetSize
    }

    package var isEmpty: Bool { entries.isEmpty }
    package var isFull: Bool { bytes.count >= targetSize }

    package func add(type: BlobType, id: BlobID, sealed: UnsafeRawBufferPointer, rawLength: Int) {
        reserve()
        entries.append(PackEntry(type: type, id: id, offset: UInt32(bytes.count), length: UInt32(sealed.count), rawLength: UInt32(rawLength)))
        bytes.append(contentsOf: sealed)
    }

    /// Adds a sealed frame once, with an entry for each of its pages (`ids[k]` is in slot k).
    package func addFrame(ids: some Collection<BlobID>, sealed: UnsafeRawBufferPointer, pageSize: Int) {
        addFrame(members: ids.enumerated().map { (id: $0.element, slot: UInt8($0.offset)) }, sealed: sealed, pageSize: pageSize)
    }

    /// Adds a sealed frame with entries for some of its pages (prune keeps a frame whole when
    /// every page in it is still needed).
    package func addFrame(members: [(id: BlobID, slot: UInt8)], sealed: UnsafeRawBufferPointer, pageSize: Int) {
        reserve()
        let offset = UInt32(bytes.count)
        for m in members {
            entries.append(PackEntry(type: .framedPage, id: m.id, offset: offset, length: UInt32(sealed.count), rawLength: UInt32(pageSize), slot: m.slot))
        }
        bytes.append(contentsOf: sealed)
    }

    // Reserved on first use, not at finish: the previous pack may still be uploading.
    private func reserve() {
        guard bytes.capacity == 0 else { return }
        if let reused = spare.withLock({ s -> [UInt8]? in defer { s = nil }; return s }) { bytes = reused }
        // Room for the last frame past the target and a typical header; more only grows it.
        if bytes.capacity < targetSize + (256 << 10) { bytes.reserveCapacity(targetSize + (256 << 10)) }
    }

    /// Takes back a finished pack's buffer (emptied; its capacity is kept when no one else
    /// holds it). Called from the upload thread.
    package func recycle(_ buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        let b = buffer
        spare.withLock { if $0 == nil { $0 = b } }
        buffer = []
    }

    /// Appends the header and hands over the finished pack (its name, the SHA-256 of its bytes,
    /// is computed by the uploader, off the producing thread).
    package func finish(aead: AEADContext) throws -> (bytes: [UInt8], entries: [PackEntry]) {
        bytes.append(contentsOf: try PackFormat.encodeHeader(entries, aead: aead))
        let done = (bytes, entries)
        bytes = []
        entries = []
        return done
    }
}

/// Uploads finished objects on background threads while the caller keeps producing.
/// At most `inFlight` objects wait or upload at once, which bounds memory.
package final class Uploader: Sendable {
    private let backend: any Backend
    private let queue = DispatchQueue(label: "lifeboat.upload", attributes: .concurrent)
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let failure = Locked<Error?>(nil)

    package init(backend: any Backend, inFlight: Int) {
        self.backend = backend
        slots = DispatchSemaphore(value: max(1, inFlight))
    }

    /// Uploads a content-addressed object: its name is the SHA-256 of `bytes`, computed here
    /// on the upload thread; `stored` is called with it once the object is durably stored.
    package func submit(_ kind: ObjectKind, _ bytes: [UInt8], recycle: (@Sendable (inout [UInt8]) -> Void)? = nil,
                stored: @escaping @Sendable (String) -> Void) throws {
        if let e = failure.current { throw e }
        slots.wait()
        group.enter()
        let backend = self.backend
        // Boxed so the upload thread holds the only reference and can hand the buffer back.
        let box = Locked<[UInt8]>(bytes)
        queue.async { [self] in
            defer {
                slots.signal()
                group.leave()
            }
            var bytes = box.withLock { b in defer { b = [] }; return b }
            do {
                let name = SHA256.hex(bytes)
                do {
                    try backend.put(ObjectKey(kind, name), bytes)
                } catch let e as LifeboatError where e.kind == .exists {
                    // Same name means same bytes (names are content hashes): already stored.
                }
                stored(name)
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
            recycle?(&bytes)
        }
    }

    /// Waits for every upload; rethrows the first failure.
    package func finish() throws {
        group.wait()
        if let e = failure.current { throw e }
    }

}

