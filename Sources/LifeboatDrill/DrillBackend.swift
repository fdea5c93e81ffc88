import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// The backend a drill uses for each repository. Existing repositories are wrapped read-only,
/// so no step of a drill can write to or delete from the backups it is testing; a repository
/// the scenario declares lost is made unreachable for the rest of the drill (simulated loss).
/// A pure decorator: every capability is forwarded, behind the same two checks.
package final class DrillBackend: Backend {
    package let inner: any Backend
    package let readOnly: Bool
    /// For a scratch replica: once the disaster strikes, nothing more reaches it.
    package let cutOff: DrillCutOff?
    private let lost: Locked<Bool>

    package convenience init(_ inner: any Backend, readOnly: Bool, cutOff: DrillCutOff? = nil) {
        self.init(inner, readOnly: readOnly, cutOff: cutOff, lost: Locked(false))
    }

    /// The copies of a replicated inner backend share the wrapper's loss and cut-off.
    private init(_ inner: any Backend, readOnly: Bool, cutOff: DrillCutOff?, lost: Locked<Bool>) {
        self.inner = inner
        self.readOnly = readOnly
        self.cutOff = cutOff
        self.lost = lost
    }

    package var location: String { inner.location }
    package var preferredConcurrency: Int { inner.preferredConcurrency }

    /// Simulates losing the repository: every later call fails as an unreachable endpoint would.
    package func markLost() { lost.withLock { $0 = true } }
    package var isLost: Bool { lost.current }

    private func reachable() throws {
        if lost.current {
            throw LifeboatError(.network, "repository \(inner.location) is unreachable (lost in the drill's disaster)")
        }
    }

    private func writable(_ what: String) throws {
        try reachable()
        if readOnly {
            throw LifeboatError(.internalError, "drill refused to \(what) in \(inner.location): drills never write to an existing repository")
        }
        if cutOff?.hasStruck == true {
            throw LifeboatError(.incomplete, "copy to \(inner.location) cut off by the disaster")
        }
    }

    package func create() throws { try writable("create"); try inner.create() }
    package func put(_ key: ObjectKey, _ bytes: [UInt8]) throws { try writable("write \(key.path)"); try inner.put(key, bytes) }
    package func get(_ key: ObjectKey) throws -> [UInt8] { try reachable(); return try inner.get(key) }
    package func getRange(_ key: ObjectKey, offset: Int, length: Int) throws -> [UInt8] {
        try reachable()
        return try inner.getRange(key, offset: offset, length: length)
    }
    package func stat(_ key: ObjectKey) throws -> Int? { try reachable(); return try inner.stat(key) }
    package func list(_ kind: ObjectKind) throws -> [ObjectInfo] { try reachable(); return try inner.list(kind) }
    package func delete(_ key: ObjectKey) throws { try writable("delete \(key.path)"); try inner.delete(key) }

    // MARK: Capabilities

    /// Itself for one copy; each copy wrapped alike for several, so a read that falls back
    /// to another copy still passes the drill's checks.
    package var replicas: [any Backend] {
        let copies = inner.replicas
        return copies.count == 1 ? [self] : copies.map { DrillBackend($0, readOnly: readOnly, cutOff: cutOff, lost: lost) }
    }
    package var behind: [(location: String, error: LifeboatError)] { inner.behind }
    package func markBehind(_ index: Int, _ error: LifeboatError) { inner.markBehind(index, error) }
    package var fallbackNotes: [String] { inner.fallbackNotes }
    package func noteFallback(_ message: String) { inner.noteFallback(message) }

    package func modificationTime(_ key: ObjectKey) throws -> Date? { try reachable(); return try inner.modificationTime(key) }
    package func removeTemporaryFiles(olderThan age: TimeInterval) throws -> Int {
        try writable("remove temporary files")
        return try inner.removeTemporaryFiles(olderThan: age)
    }

    package func setObjectLock(_ runtime: ObjectLockRuntime) { inner.setObjectLock(runtime) }
    package func objectLockStatus() throws -> [ObjectLockStatus] { try reachable(); return try inner.objectLockStatus() }
    package var readsBehindDeleteMarkers: [String: Int] { inner.readsBehindDeleteMarkers }

    package var readsIntoBuffer: Bool { inner.readsIntoBuffer }
    package func readRange(_ key: ObjectKey, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer {
        try reachable()
        return try inner.readRange(key, offset: offset, length: length, into: buffer)
    }

    /// Deletes every object through the storage API, as an attacker holding delete rights
    /// would; returns how many. Only ever called on a drill's own scratch repository (an
    /// existing one is read-only and refuses).
    package func deleteEverything() throws -> Int {
        var n = 0
        for kind in ObjectKind.allCases {
            for info in try list(kind) {
                try delete(info.key)
                n += 1
            }
        }
        return n
    }
}
