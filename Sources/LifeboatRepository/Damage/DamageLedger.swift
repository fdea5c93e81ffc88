import Foundation
import LifeboatCore
import LifeboatStorage

/// What is known about damaged packs: records under damaged/, each an encrypted whole object
/// (named by its SHA-256, like every object, so it is written without overwriting anything and
/// a snapshot's GET/PUT/LIST rights suffice). A record lists packs observed damaged or missing
/// (by `check`, a snapshot's size check, a failed read during a restore, `repair`) and packs
/// observed whole again (their bytes matched their name: `check --read-data`, or `repair
/// --from` put back a verified copy). For each pack the newest observation holds.
///
/// Snapshots do not deduplicate against a damaged pack (its pages are stored again), restores
/// and checks read a blob from it only when no other pack holds the blob, and prune deletes it
/// once nothing needs it.
public struct DamageRecord: Codable, Sendable, Equatable {
    public struct Pack: Codable, Sendable, Equatable {
        public var pack: String
        public var state: State
        /// Why, for a damaged pack (a Lifeboat message: sizes, not content).
        public var problem: String?
        /// How the damage was seen (nil: content).
        public var evidence: Evidence?

        public init(pack: String, state: State, problem: String? = nil, evidence: Evidence? = nil) {
            self.pack = pack
            self.state = state
            self.problem = problem
            self.evidence = evidence
        }
    }

    /// `listing`: missing from a listing of data/, or of another size than its index says; a
    /// later listing that shows it present with the right size clears it, as that is all a
    /// pack never found damaged is held to. `content`: its bytes were read and are wrong; only
    /// reading them whole again (or putting back a verified copy) clears it.
    public enum Evidence: String, Codable, Sendable {
        case listing
        case content
    }

    public enum State: String, Codable, Sendable {
        case damaged
        case whole
    }

    public var version: Int
    public var timeMs: Int64
    public var host: String
    public var operation: String
    public var packs: [Pack]

    package enum CodingKeys: String, CodingKey {
        case version, host, operation, packs
        case timeMs = "time_ms"
    }

    package static let currentVersion = 1
    /// More packs than any repository holds: a bound for decoding, not a limit in practice.
    package static let maxPacks = 1 << 22

    public init(timeMs: Int64, host: String, operation: String, packs: [Pack]) {
        self.version = Self.currentVersion
        self.timeMs = timeMs
        self.host = host
        self.operation = operation
        self.packs = packs
    }

    package func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return Array(try enc.encode(self))
    }

    /// Parses a record's plaintext; rejects anything but pack names of 64 hex digits and
    /// bounded problem texts.
    public static func decode(_ bytes: [UInt8], name: String) throws -> DamageRecord {
        let malformed = LifeboatError(.corrupt, "damage record \(name.prefix(8)) is malformed")
        guard let r = try? JSONDecoder().decode(DamageRecord.self, from: Data(bytes)) else { throw malformed }
        guard r.version >= 1, r.version <= currentVersion, r.packs.count <= maxPacks, r.operation.count <= 64, r.host.count <= 255 else { throw malformed }
        for p in r.packs {
            guard p.pack.count == 64, Hex.decode(p.pack) != nil, (p.problem?.count ?? 0) <= 1024 else { throw malformed }
        }
        return r
    }
}

/// The newest observation of every pack any damage record names.
public struct DamageLedger: Sendable {
    public struct Observation: Sendable, Equatable {
        public var state: DamageRecord.State
        public var problem: String?
        public var evidence: DamageRecord.Evidence
        public var timeMs: Int64
        public var operation: String
    }

    public private(set) var packs: [String: Observation] = [:]
    /// Records that could not be read (their observations are lost until a check finds the damage again).
    public private(set) var unreadable: [(name: String, error: LifeboatError)] = []

    public init() {}

    /// Packs whose newest observation is damage, with the reason.
    public var damaged: [String: String] {
        var out: [String: String] = [:]
        for (name, o) in packs where o.state == .damaged { out[name] = o.problem ?? "recorded damaged by \(o.operation)" }
        return out
    }

    public func isDamaged(_ pack: String) -> Bool { packs[pack]?.state == .damaged }

    /// Adds a record's observations; at equal times damage wins (the cautious reading).
    package mutating func add(_ r: DamageRecord) {
        for p in r.packs {
            let o = Observation(state: p.state, problem: p.problem, evidence: p.evidence ?? .content, timeMs: r.timeMs, operation: r.operation)
            if let old = packs[p.pack], old.timeMs > o.timeMs || (old.timeMs == o.timeMs && old.state == .damaged) { continue }
            packs[p.pack] = o
        }
    }

    package mutating func noteUnreadable(_ name: String, _ error: LifeboatError) { unreadable.append((name, error)) }
}

extension Repository {
    /// Reads every damage record. One that fails authentication is kept aside (`unreadable`),
    /// not fatal: it only held observations, which a check makes again.
    public func loadDamageLedger() throws -> DamageLedger {
        var ledger = DamageLedger()
        for info in try backend.list(.damaged) {
            do {
                ledger.add(try DamageRecord.decode(try loadObject(info.key), name: info.key.name))
            } catch let e as LifeboatError where e.kind == .corrupt || e.kind == .notFound {
                ledger.noteUnreadable(info.key.name, e)
            }
        }
        return ledger
    }

    /// Stores what an operation observed, leaving out what the ledger already says (so a
    /// check that finds nothing new writes nothing). `evidence`: per damaged pack, how it was
    /// seen (default: content). Returns the record's key, or nil when there was nothing new.
    @discardableResult
    public func recordPackStates(damaged: [String: String], evidence: [String: DamageRecord.Evidence] = [:], whole: Set<String> = [],
                                 operation: String, ledger: DamageLedger? = nil) throws -> ObjectKey? {
        let known = try ledger ?? loadDamageLedger()
        var packs: [DamageRecord.Pack] = []
        for (name, problem) in damaged.sorted(by: { $0.key < $1.key }) where !known.isDamaged(name) {
            packs.append(.init(pack: name, state: .damaged, problem: String(problem.prefix(1024)), evidence: evidence[name] ?? .content))
        }
        for name in whole.sorted() where known.isDamaged(name) && damaged[name] == nil {
            packs.append(.init(pack: name, state: .whole))
        }
        guard !packs.isEmpty else { return nil }
        let record = DamageRecord(timeMs: Date().unixMilliseconds, host: HostIdentity.hostName, operation: operation, packs: packs)
        return try storeObject(.damaged, try record.encoded()).key
    }

    /// `recordPackStates` for runs whose main work must not fail because the record could not
    /// be written (a read-only repository, restore credentials): a warning says so instead.
    public func recordPackStatesOrWarn(damaged: [String: String], evidence: [String: DamageRecord.Evidence] = [:], whole: Set<String> = [],
                                       operation: String, ledger: DamageLedger? = nil) {
        do {
            try recordPackStates(damaged: damaged, evidence: evidence, whole: whole, operation: operation, ledger: ledger)
        } catch let e as LifeboatError {
            let n = damaged.count + whole.count
            Warnings.emit("\(operation) could not record the state of \(n) pack(s) in the repository (\(e.message)); later snapshots learn of it from the next 'lifeboat check' that can write")
        } catch {
            Warnings.emit("\(operation) could not record the state of damaged packs in the repository: \(error)")
        }
    }
}
