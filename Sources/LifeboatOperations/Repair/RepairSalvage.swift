import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension Repairer {
    /// Blobs whose only copy is in a damaged pack that can still be read, and that still
    /// authenticate (each page's id is recomputed as it opens): copied, still sealed, into new
    /// packs. A frame is copied whole, with entries for its members that open.
    package func salvage(_ index: inout BlobIndex, into writer: RepairPacks) throws -> Int {
        var stranded: [UInt32: [PackEntry]] = [:]
        index.forEach { id, loc in
            if index.isDistrusted(pack: loc.pack) {
                stranded[loc.pack, default: []].append(PackEntry(type: loc.type, id: id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, slot: loc.slot))
            }
        }
        guard !stranded.isEmpty else { return 0 }
        let keyDirectory = try repo.sourceKeyDirectory()
        let shredded = keyDirectory.shreddedPacks
        // Every key a blob may be sealed with: master key generations, newest first, then source keys.
        var candidates: [(tag: KeyTag, keys: MasterKeys)] = try repo.keyring.generations.reversed().map {
            (KeyTag(generation: $0, sourceKey: nil), try repo.keyring.keys(generation: $0))
        }
        for k in keyDirectory.keys {
            let tag = KeyTag(generation: k.generation, sourceKey: k.id)
            candidates.append((tag, try repo.keys(tag: tag, source: k.source)))
        }
        let codecs = try candidates.map { try BlobCodec(keys: $0.keys) }
        var salvaged = 0
        for (n, entries) in stranded.sorted(by: { $0.key < $1.key }) {
            let name = index.packs[Int(n)]
            guard !shredded.contains(name), let bytes = try? repo.backend.get(ObjectKey(.data, name)) else { continue }
            options.progress?("salvaging from damaged pack \(name.prefix(8))")
            // Grouped by frame (or single blob): one sealed range each.
            let groups = Dictionary(grouping: entries, by: \.offset).sorted { $0.key < $1.key }
            for (_, group) in groups {
                guard let e = group.first, Int(e.offset) + Int(e.length) <= bytes.count else { continue }
                let sealed = Array(bytes[Int(e.offset)..<(Int(e.offset) + Int(e.length))])
                for (c, codec) in codecs.enumerated() {
                    let opened = group.filter { m in
                        (try? codec.open(sealed, type: m.type, slot: m.slot, id: m.id, rawLength: Int(m.rawLength))) != nil
                    }
                    guard !opened.isEmpty else { continue }
                    try sealed.withUnsafeBytes { try writer.addSealed($0, entries: opened, tag: candidates[c].tag, keys: candidates[c].keys) }
                    salvaged += opened.count
                    break
                }
            }
        }
        return salvaged
    }
}
