import LifeboatCore
import LifeboatStorage
import LifeboatRepository

extension Sync {
    /// Objects of `target` that are damaged, among those `source` also has: every object is
    /// named by the SHA-256 of its bytes, so no key is needed to tell. Without `readData`, only
    /// objects whose size differs between the two copies are read (a truncated or lengthened
    /// object); with it, every one of them (bit rot of the same size).
    public static func damagedObjects(in target: any Backend, comparedWith source: any Backend, readData: Bool,
                                      progress: (@Sendable (String) -> Void)? = nil) throws -> [ObjectKey] {
        var damaged: [ObjectKey] = []
        for kind in order {
            let theirs = Dictionary(try source.list(kind).map { ($0.key.name, $0.size) }, uniquingKeysWith: { a, _ in a })
            let suspects = try target.list(kind).filter { o in
                guard let size = theirs[o.key.name] else { return false }
                return readData || size != o.size
            }
            if !suspects.isEmpty { progress?("\(kind.rawValue): verifying \(suspects.count) object(s)") }
            let found = Locked<[ObjectKey]>([])
            try Parallel.forEach(count: suspects.count, workers: 4) { _, i in
                let key = suspects[i].key
                let intact: Bool
                do { intact = SHA256.hex(try target.get(key)) == key.contentDigest } catch let e as LifeboatError where e.kind == .corrupt || e.kind == .notFound {
                    intact = false
                }
                if !intact { found.withLock { $0.append(key) } }
            }
            damaged += found.current.sorted { $0.name < $1.name }
        }
        return damaged
    }
}
