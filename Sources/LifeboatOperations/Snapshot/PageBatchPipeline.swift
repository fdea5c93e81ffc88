import Foundation
import LifeboatCore
import LifeboatRepository

/// The capture stage of a snapshot: reads the database a batch of pages at a time (the next
/// batch is read while this one is processed), gives each page its keyed id, decides which
/// pages the repository lacks, seals those in frames of up to `framePages` on every core and
/// hands the frames to the pack writer, in page order. Its working memory is allocated once
/// and is the same whatever the database's size.
final class PageBatchPipeline {
    private let pageSize: Int
    private let batch: Int
    private let framePages: Int
    private let slotSize: Int
    private let workers: Int
    private let codecs: [BlobCodec]
    private let known: KnownBlobs
    private let writer: SnapshotPackWriter

    /// Two page buffers: the next batch is read into one while the other is processed.
    private let pageBuffers: [UnsafeMutableRawBufferPointer]
    /// One slot per frame of a batch, for sealed frames.
    private let sealedSlots: UnsafeMutableRawBufferPointer
    private let sealedLengths: UnsafeMutableBufferPointer<Int>
    /// Per worker: a frame of pages that are not neighbours in the batch, gathered.
    private let gathers: [UnsafeMutableRawBufferPointer]
    private let ids: UnsafeMutableBufferPointer<BlobID>
    private let fresh: UnsafeMutableBufferPointer<Bool>
    private let newPages: UnsafeMutableBufferPointer<Int>
    private let parentIDs: UnsafeMutableBufferPointer<BlobID>

    /// New pages stored so far.
    private(set) var pagesNew = 0

    init(pageSize: Int, batchPages: Int, framePages: Int, codecs: [BlobCodec], known: KnownBlobs, writer: SnapshotPackWriter) {
        let batch = max(1, batchPages), framePages = max(1, min(BlobCodec.maxFramePages, framePages))
        self.pageSize = pageSize
        self.batch = batch
        self.framePages = framePages
        workers = codecs.count
        self.codecs = codecs
        self.known = known
        self.writer = writer
        let maxFrames = (batch + framePages - 1) / framePages
        slotSize = BlobCodec.frameBound(pages: framePages, pageSize: pageSize)
        pageBuffers = (0..<2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: batch * pageSize, alignment: 4096) }
        sealedSlots = UnsafeMutableRawBufferPointer.allocate(byteCount: maxFrames * slotSize, alignment: 16)
        sealedLengths = UnsafeMutableBufferPointer<Int>.allocate(capacity: maxFrames)
        gathers = (0..<workers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: framePages * pageSize, alignment: 4096) }
        ids = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: batch)
        fresh = UnsafeMutableBufferPointer<Bool>.allocate(capacity: batch)
        newPages = UnsafeMutableBufferPointer<Int>.allocate(capacity: batch)
        parentIDs = UnsafeMutableBufferPointer<BlobID>.allocate(capacity: batch)
    }

    deinit {
        pageBuffers.forEach { $0.deallocate() }
        sealedSlots.deallocate()
        sealedLengths.deallocate()
        gathers.forEach { $0.deallocate() }
        ids.deallocate()
        fresh.deallocate()
        newPages.deallocate()
        parentIDs.deallocate()
    }

    /// Runs every page of `capture` through the stages and appends each batch's ids to `table`.
    /// `parentPages` (the parent's ids in page order) spares lookups of unchanged pages; if
    /// it fails midway only that shortcut is lost.
    func run(_ capture: DatabaseCapture, parentPages initialParent: ParentPages?, table: PageTableStream,
             progress: (@Sendable (_ done: Int, _ total: Int) -> Void)?) throws {
        let pageCount = capture.pageCount
        var parentPages = initialParent
        let reader = DispatchQueue(label: "lifeboat.capture")
        let readError = Locked<Error?>(nil)
        let captureBox = UnsafeTransfer(capture)
        let batch = batch
        func startRead(_ first: Int, into buffer: UnsafeMutableRawBufferPointer, group: DispatchGroup) {
            let n = min(batch, pageCount - first)
            let target = UnsafeTransfer(buffer)
            reader.async(group: group) {
                do { try captureBox.value.readPages(first: first, count: n, into: target.value) } catch {
                    readError.withLock { $0 = error }
                }
            }
        }

        var first = 0
        var which = 0
        var pending = DispatchGroup()
        // Never leave (even by an error) while a read still writes into a buffer.
        defer { pending.wait() }
        if pageCount > 0 { startRead(0, into: pageBuffers[0], group: pending) }
        while first < pageCount {
            let n = min(batch, pageCount - first)
            pending.wait()
            if let e = readError.current { throw e }
            let pages = pageBuffers[which]
            if first + n < pageCount {
                pending = DispatchGroup()
                startRead(first + n, into: pageBuffers[1 - which], group: pending)
            }
            let parentHas: Int
            do { parentHas = try parentPages?.fill(from: first, count: n, into: parentIDs) ?? 0 } catch { parentHas = 0; parentPages = nil }

            let chunks = (n + framePages - 1) / framePages
            try identify(pages, count: n, chunks: chunks, parentHas: parentHas)
            let newCount = try packWholeChunks(chunks: chunks, count: n)
            let frames = (newCount + framePages - 1) / framePages
            try sealScattered(pages, newCount: newCount, frames: frames)
            try packScattered(newCount: newCount, frames: frames)

            try table.append(UnsafeBufferPointer(rebasing: ids[0..<n]))
            first += n
            which = 1 - which
            progress?(first, pageCount)
        }
    }

    /// Stage 1, in parallel, a chunk of `framePages` pages per task, pulled by whichever worker
    /// is free: the keyed ids, whether the repository (this run's pages included) lacks them
    /// (the set is only read here), and when it lacks them all (a first snapshot, appended
    /// data) the chunk sealed as one frame at once.
    private func identify(_ pages: UnsafeMutableRawBufferPointer, count n: Int, chunks: Int, parentHas: Int) throws {
        let (pageSize, framePages, slotSize, known) = (pageSize, framePages, slotSize, known)
        let shared = UnsafeTransfer((pages, ids, fresh, codecs, sealedSlots, sealedLengths, parentIDs))
        try Parallel.forEach(count: chunks, workers: workers) { w, c in
            let (pages, ids, fresh, codecs, slots, lengths, parentIDs) = shared.value
            let lo = c * framePages, hi = min(n, lo + framePages)
            var allNew = true
            for i in lo..<hi {
                let id = codecs[w].hasher.id(UnsafeRawBufferPointer(rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]))
                ids[i] = id
                // The parent's page at the same place is stored: no lookup, only the Bloom
                // filter's word that the index lists it (were an index file lost, the page
                // is looked up, found missing and stored again).
                if i < parentHas && parentIDs[i] == id && known.mayContain(id) { fresh[i] = false } else { fresh[i] = try !known.contains(id) }
                allNew = allNew && fresh[i]
            }
            lengths[c] = !allNew ? 0 : try codecs[w].sealFrame(UnsafeRawBufferPointer(rebasing: pages[(lo * pageSize)..<(hi * pageSize)]), ids: ids[lo..<hi], count: hi - lo,
                                                               into: UnsafeMutableRawBufferPointer(rebasing: slots[(c * slotSize)..<((c + 1) * slotSize)]))
        }
    }

    /// Stage 2, in order: records ids; chunks sealed whole go into packs (a page identical to
    /// another of the same chunk is stored twice, harmlessly: the first copy is the one
    /// indexed); of the other new pages, only the first of identical ones is kept, listed in
    /// `newPages`. Returns how many it listed.
    private func packWholeChunks(chunks: Int, count n: Int) throws -> Int {
        var newCount = 0
        for c in 0..<chunks {
            let lo = c * framePages, hi = min(n, lo + framePages)
            if sealedLengths[c] > 0 {
                for i in lo..<hi { try known.insert(ids[i]) }
                pagesNew += hi - lo
                try writer.addPageFrame(ids: ids[lo..<hi], sealed: sealedFrame(c), pageSize: pageSize)
                continue
            }
            for i in lo..<hi {
                let id = ids[i]
                guard fresh[i] else { continue }
                if try known.contains(id) { continue }
                try known.insert(id)
                newPages[newCount] = i
                newCount += 1
            }
        }
        pagesNew += newCount
        return newCount
    }

    /// Stage 3, in parallel: the listed new pages, gathered into frames, compressed and encrypted.
    private func sealScattered(_ pages: UnsafeMutableRawBufferPointer, newCount: Int, frames: Int) throws {
        guard frames > 0 else { return }
        let (pageSize, framePages, slotSize) = (pageSize, framePages, slotSize)
        let shared = UnsafeTransfer((pages, sealedSlots, newPages, sealedLengths, gathers, codecs, ids))
        try Parallel.forEach(count: frames, workers: workers) { w, f in
            let (pages, slots, newPages, lengths, gathers, codecs, ids) = shared.value
            let lo = f * framePages, count = min(newCount, lo + framePages) - lo
            let firstPage = newPages[lo]
            var input = UnsafeRawBufferPointer(rebasing: pages[(firstPage * pageSize)..<((firstPage + count) * pageSize)])
            if newPages[lo + count - 1] - firstPage != count - 1, let dst = gathers[w].baseAddress, let src = pages.baseAddress {
                for k in 0..<count {
                    (dst + k * pageSize).copyMemory(from: src + newPages[lo + k] * pageSize, byteCount: pageSize)
                }
                input = UnsafeRawBufferPointer(rebasing: gathers[w][0..<(count * pageSize)])
            }
            lengths[f] = try codecs[w].sealFrame(input, ids: (lo..<(lo + count)).lazy.map { ids[newPages[$0]] }, count: count, into: UnsafeMutableRawBufferPointer(rebasing: slots[(f * slotSize)..<((f + 1) * slotSize)]))
        }
    }

    /// Stage 4, in order: those frames into packs.
    private func packScattered(newCount: Int, frames: Int) throws {
        for f in 0..<frames {
            let lo = f * framePages, hi = min(newCount, lo + framePages)
            try writer.addPageFrame(ids: (lo..<hi).map { ids[newPages[$0]] }, sealed: sealedFrame(f), pageSize: pageSize)
        }
    }

    private func sealedFrame(_ slot: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: sealedSlots[(slot * slotSize)..<(slot * slotSize + sealedLengths[slot])])
    }
}
