import Foundation
import LifeboatCore

/// Several copies of one repository (3-2-1: e.g. a local directory and two S3 regions) seen
/// as one backend.
///
/// Writes go to every copy; a copy that fails is marked *behind*, skipped for the rest of the
/// run, and reported, while the others complete (`lifeboat sync` repairs it later). Reads take
/// the first copy that answers with good bytes: content-addressed objects are checked against
/// their SHA-256 name, and a missing, unreachable or damaged object is fetched from the next
/// copy. Listings are the union of all copies, so a snapshot deleted from the primary (say, by
/// an attacker) is still found on a replica.
public final class ReplicatedBackend: Backend, @unchecked Sendable {
    public let replicas: [any Backend]
    private let failures: Locked<[LifeboatError?]>
    private let notes = Locked<[String]>([])

    public init(_ replicas: [any Backend]) {
        precondition(!replicas.isEmpty, "at least one repository")
        self.replicas = replicas
        failures = Locked(Array(repeating: nil, count: replicas.count))
    }

    public var location: String { replicas.map(\.location).joined(separator: " + ") }
    public var preferredConcurrency: Int { replicas.map(\.preferredConcurrency).max() ?? 1 }
    public var primary: any Backend { replicas[0] }

    /// Copies that failed a write in this run, with the first error of each.
    public var behind: [(location: String, error: LifeboatError)] {
        failures.current.enumerated().compactMap { i, e in e.map { (replicas[i].location, $0) } }
    }

    /// Reads served by a copy other than the first, for telling the user.
    public var fallbackNotes: [String] { notes.current }

    public func markBehind(_ index: Int, _ error: LifeboatError) {
        failures.withLock { if $0[index] == nil { $0[index] = error } }
    }

    private var healthy: [Int] { failures.current.enumerated().filter { $0.element == nil }.map(\.offset) }

    public func create() throws {
        for (i, r) in replicas.enumerated() {
            do { try r.create() } catch let e as LifeboatError { markBehind(i, e) }
        }
        if healthy.isEmpty, let e = failures.current.compactMap({ $0 }).first { throw e }
    }

    public func put(_ key: ObjectKey, _ bytes: [UInt8]) throws {
        var stored = 0
        var existed = 0
        for i in healthy {
            do {
                try replicas[i].put(key, bytes)
                stored += 1
            } catch let e as LifeboatError where e.kind == .exists {
                existed += 1
            } catch let e as LifeboatError {
                markBehind(i, e)
            }
        }
        if stored + existed == 0 {
            throw failures.current.compactMap { $0 }.first ?? LifeboatError(.io, "no repository accepted \(key.path)")
        }
        if stored == 0 && existed > 0 {
            throw LifeboatError(.exists, "object \(key.path) already exists; refusing to overwrite")
        }
    }

    /// Tries each copy in order; `accept` may reject bytes (damaged) to move on to the next.
    private func firstGood<T>(_ key: ObjectKey, _ read: (any Backend) throws -> T, accept: (T) -> Bool = { _ in true }) throws -> T {
        var errors: [String] = []
        var firstError: LifeboatError?
        for (i, r) in replicas.enumerated() {
            do {
                let value = try read(r)
                if accept(value) {
                    if i > 0 {
                        notes.withLock { $0.append("\(key.path) read from \(r.location) (\(errors.joined(separator: "; ")))") }
                    }
                    return value
                }
                let e = LifeboatError(.corrupt, "\(key.path) in \(r.location) does not match its name (damaged)")
                firstError = firstError ?? e
                errors.append("damaged in \(r.location)")
            } catch let e as LifeboatError {
                firstError = firstError ?? e
                errors.append(e.kind == .notFound ? "missing in \(r.location)" : "\(r.location): \(e.message)")
            }
        }
        if replicas.count == 1, let firstError { throw firstError }
        throw LifeboatError(firstError?.kind ?? .notFound, "\(key.path) is unavailable in every repository: \(errors.joined(separator: "; "))")
    }

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        let verify = key.kind != .config && key.kind != .locks
        return try firstGood(key, { try $0.get(key) }, accept: { !verify || SHA256.hex($0) == key.name })
    }

    public func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] {
        try firstGood(key) { try $0.getRange(key, offset: offset, length: length) }
    }

    /// A range from one specific copy (restore retries a range whose blobs fail to authenticate).
    public func getRange(_ key: ObjectKey, offset: Int, length: Int, replica: Int) throws -> [UInt8] {
        try replicas[replica].getRange(key, offset: offset, length: length)
    }

    public func noteFallback(_ message: String) { notes.withLock { $0.append(message) } }

    public func stat(_ key: ObjectKey) throws -> Int? {
        var lastError: LifeboatError?
        for r in replicas {
            do { if let s = try r.stat(key) { return s } } catch let e as LifeboatError { lastError = e }
        }
        if let lastError, replicas.count == 1 { throw lastError }
        return nil
    }

    public func list(_ kind: ObjectKind) throws -> [ObjectInfo] {
        var seen: [String: ObjectInfo] = [:]
        var answered = 0
        var lastError: LifeboatError?
        for r in replicas {
            do {
                for o in try r.list(kind) where seen[o.key.name] == nil { seen[o.key.name] = o }
                answered += 1
            } catch let e as LifeboatError {
                lastError = e
            }
        }
        if answered == 0, let lastError { throw lastError }
        return Array(seen.values)
    }

    /// Deletes from every copy still in step; a copy marked behind in this run did not receive
    /// this run's objects (its own lock, say) and is left to `sync`.
    public func delete(_ key: ObjectKey) throws {
        var deleted = false
        var lastError: LifeboatError?
        var retained: ObjectRetained?
        for i in healthy {
            let r = replicas[i]
            do {
                try r.delete(key)
                deleted = true
            } catch let e as LifeboatError where e.kind == .notFound {
                continue
            } catch let e as LifeboatError {
                lastError = e
            } catch let e as ObjectRetained {
                retained = e  // Object Lock: that copy keeps it; the others still delete
            }
        }
        if let lastError { throw lastError }
        if let retained { throw retained }
        if !deleted { throw LifeboatError(.notFound, "object \(key.path) is missing from every repository") }
    }
}
