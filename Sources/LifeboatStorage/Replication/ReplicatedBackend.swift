import Foundation
import LifeboatCore

/// Several copies of one repository (3-2-1: e.g. a local directory and two S3 regions) seen
/// as one backend.
///
/// Writes go to every copy; a copy that fails is marked *behind*, skipped for the rest of the
/// run, and reported, while the others complete (`lifeboat sync` repairs it later). Reads take
/// the first copy that answers with good bytes: content-addressed objects are checked against
/// their SHA-256 name, and a missing, unreachable or damaged object is fetched from the next
/// copy (`firstGood`, ReplicaFallback.swift). Listings are the union of all copies, so a
/// snapshot deleted from the primary (say, by an attacker) is still found on a replica.
/// A pure decorator: every capability of `Backend` is answered for the copies.
public final class ReplicatedBackend: Backend {
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

    public var behind: [(location: String, error: LifeboatError)] {
        failures.current.enumerated().compactMap { i, e in e.map { (replicas[i].location, $0) } }
    }

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

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        let verify = key.kind != .config && key.kind != .locks
        return try firstGood({ copy in (try copy.get(key), copy.location) }, validate: { bytes, location in
            guard !verify || SHA256.hex(bytes) == key.contentDigest else {
                throw LifeboatError(.corrupt, "\(key.path) in \(location) does not match its name (damaged)")
            }
            return bytes
        }, fallsBack: { $0 is LifeboatError }, note: { note(key, $0, $1) }, exhausted: { unavailable(key, $0) })
    }

    public func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] {
        try firstGood({ try $0.getRange(key, offset: offset, length: length) }, fallsBack: { $0 is LifeboatError },
                      note: { note(key, $0, $1) }, exhausted: { unavailable(key, $0) })
    }

    public var readsIntoBuffer: Bool { replicas.allSatisfy(\.readsIntoBuffer) }

    public func readRange(_ key: ObjectKey, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer {
        try firstGood({ try $0.readRange(key, offset: offset, length: length, into: buffer) }, fallsBack: { $0 is LifeboatError },
                      note: { note(key, $0, $1) }, exhausted: { unavailable(key, $0) })
    }

    private func note(_ key: ObjectKey, _ location: String, _ failures: [ReplicaFailure]) -> String {
        "\(key.path) read from \(location) (\(failures.map(\.summary).joined(separator: "; ")))"
    }

    /// One copy fails as that backend would; several say what each had to say.
    private func unavailable(_ key: ObjectKey, _ failures: [ReplicaFailure]) -> any Error {
        let first = failures.first?.error
        if replicas.count == 1, let first { return first }
        return LifeboatError((first as? LifeboatError)?.kind ?? .notFound,
                             "\(key.path) is unavailable in every repository: \(failures.map(\.summary).joined(separator: "; "))")
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

    // MARK: Capabilities, answered for every copy

    /// The newest time any copy in step stored the object: prune leaves an orphan alone
    /// until it is old in every copy.
    public func modificationTime(_ key: ObjectKey) throws -> Date? {
        try healthy.compactMap { try replicas[$0].modificationTime(key) }.max()
    }

    public func removeTemporaryFiles(olderThan age: TimeInterval) throws -> Int {
        try healthy.reduce(0) { $0 + (try replicas[$1].removeTemporaryFiles(olderThan: age)) }
    }

    public func setObjectLock(_ runtime: ObjectLockRuntime) {
        for r in replicas { r.setObjectLock(runtime) }
    }

    public func objectLockStatus() throws -> [ObjectLockStatus] {
        try replicas.flatMap { try $0.objectLockStatus() }
    }

    public var readsBehindDeleteMarkers: [String: Int] {
        replicas.reduce(into: [:]) { all, r in
            for (k, v) in r.readsBehindDeleteMarkers { all[k] = v }
        }
    }
}
