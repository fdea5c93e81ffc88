import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension Repairer {
    /// Reads a live database consistently (as a snapshot does) and stores again every page
    /// whose id, under one of the wanted keys, is wanted; found ids leave `wanted`. Returns
    /// how many pages were stored.
    package func restorePages(from path: String, wanted: inout [KeyTag: (codec: BlobCodec, ids: Set<BlobID>)], into writer: RepairPacks) throws -> Int {
        let capture = try DatabaseCapture(path: path)
        defer { capture.close() }
        let pageSize = capture.pageSize
        let batch = 512
        let framePages = 16
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * pageSize, alignment: 4096)
        defer { buffer.deallocate() }
        var frame = [UInt8](repeating: 0, count: framePages * pageSize)
        defer { SecretBytes.wipe(&frame) }
        var stored = 0
        for tag in wanted.keys.sorted(by: { ($0.generation, $0.sourceKey ?? "") < ($1.generation, $1.sourceKey ?? "") }) {
            guard let (codec, _) = wanted[tag], !(wanted[tag]?.ids.isEmpty ?? true) else { continue }
            var ids: [BlobID] = []
            func seal() throws {
                try frame.withUnsafeBytes { try writer.addPages(UnsafeRawBufferPointer(rebasing: $0[0..<(ids.count * pageSize)]), ids: ids, pageSize: pageSize, tag: tag, codec: codec) }
                stored += ids.count
                ids = []
            }
            var first = 0
            while first < capture.pageCount, !(wanted[tag]?.ids.isEmpty ?? true) {
                let n = min(batch, capture.pageCount - first)
                try capture.readPages(first: first, count: n, into: buffer)
                for i in 0..<n {
                    let page = UnsafeRawBufferPointer(rebasing: buffer[(i * pageSize)..<((i + 1) * pageSize)])
                    let id = codec.hasher.id(page)
                    guard wanted[tag]?.ids.remove(id) != nil else { continue }
                    frame.withUnsafeMutableBytes { dst in
                        if let d = dst.baseAddress, let src = page.baseAddress { (d + ids.count * pageSize).copyMemory(from: src, byteCount: pageSize) }
                    }
                    ids.append(id)
                    if ids.count == framePages { try seal() }
                }
                first += n
            }
            if !ids.isEmpty { try seal() }
        }
        return stored
    }
}
