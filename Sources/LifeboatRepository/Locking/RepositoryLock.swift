import Foundation
import LifeboatCore
import LifeboatStorage

/// A lock held in the repository itself, under locks/, so runs on different hosts that share
/// a repository (snapshots from each database server, prune from a maintenance host) see each
/// other. A local lock file would protect only one machine.
///
/// Backends never overwrite, so a lock is an object with a unique name (the SHA-256 of its
/// encrypted bytes, random nonce included) that its owner deletes when done. Refreshing
/// writes a new object and deletes the previous one. Deleting its own lock object is the only
/// delete a snapshot does (grant DeleteObject on `locks/*` to the backup role; if it is
/// refused, the lock just goes stale and is ignored once `staleAfter` has passed).
///
/// Kinds: snapshot takes a shared lock for its source (two snapshots of one source never
/// interleave, different sources run side by side); forget and check take shared
/// repository-wide locks; prune takes the exclusive lock.
///
/// Acquiring is create-then-check: list, write our object, list again. If a conflicting lock
/// appeared meanwhile, the younger of the two backs off; the older waits briefly for it to
/// go. Whatever the timing, two conflicting runs never both proceed.
///
/// Stale: written on this host by a process that no longer exists (pid and start time), or
/// not refreshed for `staleAfter` (default 30 min; holders refresh every third of that).
/// Stale locks are ignored and removed by the next run that takes over.
public final class RepositoryLock: Sendable {
    public struct Options: Sendable {
        public var staleAfter: TimeInterval = 1800
        /// How long to keep retrying while another run holds a conflicting lock.
        public var wait: TimeInterval = 0
        /// Called with a message when a stale lock is taken over.
        public var notice: (@Sendable (String) -> Void)? = { Warnings.emit($0) }
        /// The time written into lock objects and against which others' go stale.
        public var clock = WallClock.system

        public init(staleAfter: TimeInterval = 1800, wait: TimeInterval = 0) {
            self.staleAfter = staleAfter
            self.wait = wait
        }

        package var refreshInterval: TimeInterval { max(0.2, staleAfter / 3) }
    }

    public let repository: Repository
    public let options: Options
    private let state: Locked<(key: ObjectKey, record: LockRecord, released: Bool)>
    private let wake = DispatchSemaphore(value: 0)
    /// Set once, when refreshing starts; read by `release` (perhaps from another thread).
    private let refresher = Locked<Thread?>(nil)
    private let refresherDone = DispatchSemaphore(value: 0)

    public var key: ObjectKey { state.current.key }
    public var record: LockRecord { state.current.record }

    private init(repository: Repository, key: ObjectKey, record: LockRecord, options: Options) {
        self.repository = repository
        self.options = options
        self.state = Locked((key, record, false))
    }

    deinit { release() }

    // MARK: acquiring

    public static func acquire(_ repo: Repository, operation: String, source: String? = nil, exclusive: Bool,
                               options: Options = Options()) throws -> RepositoryLock {
        let deadline = Date().addingTimeInterval(options.wait)
        var delay = 0.2
        while true {
            do {
                let lock = try attempt(repo, operation: operation, source: source, exclusive: exclusive, options: options)
                lock.startRefreshing()
                return lock
            } catch let conflict as Conflict {
                if Date().addingTimeInterval(delay) > deadline {
                    throw LifeboatError(.locked, conflict.message)
                }
                Thread.sleep(forTimeInterval: delay * Double.random(in: 0.5...1.5))
                delay = min(delay * 2, 5)
            }
        }
    }

    package struct Conflict: Error {
        package let message: String
    }

    private static func conflictMessage(_ holder: LockEntry, repo: Repository) -> String {
        if let r = holder.record {
            return "the repository \(repo.backend.location) is locked by \(r.summary); wait for it to finish, or if that run is gone, run 'lifeboat unlock'"
        }
        return "the repository \(repo.backend.location) holds an unreadable lock object \(holder.key.name.prefix(8)); if no other run is active, remove it with 'lifeboat unlock --remove-all'"
    }

    private static func attempt(_ repo: Repository, operation: String, source: String?, exclusive: Bool, options: Options) throws -> RepositoryLock {
        let now = options.clock.now
        let mine = LockRecord(host: HostIdentity.hostName, pid: HostIdentity.currentPID,
                              pidStart: HostIdentity.startTime(of: HostIdentity.currentPID),
                              timeMs: now.unixMilliseconds, startedMs: now.unixMilliseconds,
                              operation: operation, source: source, exclusive: exclusive)
        func blocking(_ entries: [LockEntry], except: ObjectKey? = nil) -> [LockEntry] {
            entries.filter { e in
                e.key != except && !e.stale && (e.record.map { $0.conflicts(with: mine) } ?? true)
            }
        }
        let before = try Locks.list(repo, staleAfter: options.staleAfter, now: now)
        if let holder = blocking(before).first { throw Conflict(message: conflictMessage(holder, repo: repo)) }

        let key = try Locks.write(repo, mine)
        let lock = RepositoryLock(repository: repo, key: key, record: mine, options: options)
        var others = blocking(try Locks.list(repo, staleAfter: options.staleAfter, now: options.clock.now), except: key)
        if !others.isEmpty {
            // Someone locked between our two listings. The younger lock backs off at once; the
            // older waits a little for the younger to notice and go.
            let older = others.contains { e in
                guard let r = e.record else { return true }
                return (r.startedMs, e.key.name) < (mine.startedMs, key.name)
            }
            var waited = 0.0
            while !older && !others.isEmpty && waited < 3 {
                Thread.sleep(forTimeInterval: 0.1)
                waited += 0.1
                others = blocking(try Locks.list(repo, staleAfter: options.staleAfter, now: options.clock.now), except: key)
            }
            if let holder = others.first {
                lock.release()
                throw Conflict(message: conflictMessage(holder, repo: repo))
            }
        }
        // Take over stale locks that stood in our way, and those of this host's runs that are
        // gone (a run that failed because the store stopped answering could not remove its own):
        // remove them (best effort; a backend that refuses deletes leaves them, and they stay ignored).
        for e in before where e.stale {
            guard let r = e.record else { continue }
            let conflicting = r.conflicts(with: mine)
            guard conflicting || (r.host == mine.host && !HostIdentity.isAlive(pid: r.pid, start: r.pidStart)) else { continue }
            if (try? repo.backend.delete(e.key)) != nil {
                options.notice?(conflicting ? "took over a stale lock: \(r.summary) \(e.staleReason ?? "")"
                                            : "removed the lock a failed run left: \(r.summary) \(e.staleReason ?? "")")
            }
        }
        return lock
    }

    // MARK: holding

    private func startRefreshing() {
        let wake = self.wake, done = refresherDone, interval = options.refreshInterval
        let t = Thread { [weak self] in
            defer { done.signal() }
            while wake.wait(timeout: .now() + interval) == .timedOut {
                guard let me = self else { return }
                me.refresh()
            }
        }
        t.name = "lifeboat.lock-refresh"
        refresher.withLock { $0 = t }
        t.start()
    }

    /// Writes a fresh copy of the lock and deletes the previous one.
    package func refresh() {
        let (oldKey, record, released) = state.current
        if released { return }
        var fresh = record
        fresh.timeMs = options.clock.now.unixMilliseconds
        do {
            let newKey = try Locks.write(repository, fresh)
            // Removed behind our back (unlock, or taken over as stale) by now: the lock is lost
            // and stays lost, so `verifyHeld` stops the run instead of the new copy hiding the
            // removal. (A store that cannot answer now is no proof: refresh as before.)
            let lost: Bool
            do { lost = try repository.backend.stat(oldKey) == nil } catch { lost = false }
            let stillMine = !lost && state.withLock { s -> Bool in
                guard !s.released else { return false }
                s.key = newKey
                s.record = fresh
                return true
            }
            try? repository.backend.delete(stillMine ? oldKey : newKey)
        } catch {
            Warnings.emit("could not refresh the repository lock (\(error)); another run may take it over after \(Int(options.staleAfter)) s")
        }
    }

    /// Throws when our lock object is gone (removed by `unlock` or taken over as stale): the
    /// run must not commit, as a prune may have deleted data it counted on.
    public func verifyHeld() throws {
        let key = state.current.key
        guard try repository.backend.stat(key) != nil else {
            throw LifeboatError(.locked, "this run's lock in \(repository.backend.location) was removed by another run (unlock, or taken over as stale); nothing was committed: run again")
        }
    }

    /// Stops refreshing and deletes the lock object. Safe to call more than once.
    public func release() {
        let (key, _, wasReleased) = state.withLock { s -> (ObjectKey, LockRecord, Bool) in
            defer { s.released = true }
            return (s.key, s.record, s.released)
        }
        if wasReleased { return }
        if let t = refresher.current {
            wake.signal()
            // (deinit may run on the refresher itself when it held the last reference.)
            if Thread.current !== t { refresherDone.wait() }
        }
        do { try repository.backend.delete(key) } catch let e as LifeboatError where e.kind == .notFound {
            // Already removed (unlock --remove-all); nothing to do.
        } catch let e as LifeboatError where e.kind == .network {
            // The store stopped answering (most likely what failed the run): said on the run's
            // error line. Any later run on this host removes the lock of a process that is gone.
            Warnings.hold("this run's lock \(key.name.prefix(8)) stays in \(repository.backend.location) until the next run on this host removes it, or run 'lifeboat unlock' once it answers")
        } catch {
            Warnings.emit("could not remove this run's lock \(key.name.prefix(8)) (\(error)); it will be ignored once stale")
        }
    }

    /// Runs `body` holding a lock.
    public static func with<T>(_ repo: Repository, operation: String, source: String? = nil, exclusive: Bool,
                               options: Options = Options(), _ body: (RepositoryLock) throws -> T) throws -> T {
        let lock = try acquire(repo, operation: operation, source: source, exclusive: exclusive, options: options)
        defer { lock.release() }
        return try body(lock)
    }
}

/// One lock object found in the repository.
public struct LockEntry: Sendable {
    public var key: ObjectKey
    public var record: LockRecord?
    public var stale: Bool
    public var staleReason: String?
}

/// Listing, writing and clearing lock objects.
public enum Locks {
    public static func write(_ repo: Repository, _ record: LockRecord) throws -> ObjectKey {
        try repo.storeObject(.locks, try JSONCoding.encode(record)).key
    }

    /// Every lock object, decoded, with its staleness. Objects that vanish while listing
    /// (released meanwhile) are skipped.
    public static func list(_ repo: Repository, staleAfter: TimeInterval, now: Date = Date()) throws -> [LockEntry] {
        var out: [LockEntry] = []
        let host = HostIdentity.hostName
        for info in try repo.backend.list(.locks) {
            let record: LockRecord
            do {
                record = try JSONCoding.decode(LockRecord.self, from: try repo.loadObject(info.key))
            } catch let e as LifeboatError where e.kind == .notFound {
                continue
            } catch {
                out.append(LockEntry(key: info.key, record: nil, stale: false, staleReason: nil))
                continue
            }
            let reason = staleReason(record, host: host, staleAfter: staleAfter, now: now)
            out.append(LockEntry(key: info.key, record: record, stale: reason != nil, staleReason: reason))
        }
        return out
    }

    /// Why a lock is stale, or nil when its holder may still be running.
    public static func staleReason(_ r: LockRecord, host: String, staleAfter: TimeInterval, now: Date) -> String? {
        let age = now.timeIntervalSince(Date(unixMilliseconds: r.timeMs))
        if age > staleAfter { return "(not refreshed for \(Int(age)) s)" }
        if r.host == host && !HostIdentity.isAlive(pid: r.pid, start: r.pidStart) { return "(process \(r.pid) is gone)" }
        return nil
    }

    /// Removes stale locks, or every lock with `all`. Returns what was removed.
    @discardableResult
    public static func remove(_ repo: Repository, all: Bool, staleAfter: TimeInterval) throws -> [LockEntry] {
        var removed: [LockEntry] = []
        for e in try list(repo, staleAfter: staleAfter) where all || e.stale {
            do {
                try repo.backend.delete(e.key)
                removed.append(e)
            } catch let err as LifeboatError where err.kind == .notFound {
                continue
            }
        }
        return removed
    }
}
