import Foundation
import LifeboatCore
import LifeboatStorage

/// One thing `audit verify` found wrong, with the exact record where it applies.
public struct AuditProblem: Codable, Sendable {
    /// "local", "repository" or "snapshots".
    public var place: String
    public var chain: String?
    public var seq: Int?
    public var message: String
    /// The offending line as stored (for "local" and "repository" problems).
    public var record: String?
}

public struct AuditVerification: Codable, Sendable {
    public var ok: Bool
    public var localPath: String
    public var localRecords: Int
    public var repositoryRecords: Int
    public var chains: Int
    public var problems: [AuditProblem]
}

/// Verifies the audit trail: the local chain, every chain stored in the repository (one per
/// host and user), that the two agree, and that the snapshots in the repository are the ones
/// the trail says were made and not removed. What each check catches:
/// - a line edited, removed or reordered in the local log → its chain breaks there;
/// - the local log cut short → the repository holds records of its chain it lacks;
/// - a repository record deleted → a gap in that chain, or a local record missing from it
///   (deleting the newest records of a chain from the repository is only visible against the
///   local log of the host that wrote them);
/// - a snapshot manifest deleted (rollback to an older "latest") → recorded but missing;
/// - a removed manifest put back (replay) → present although a forget/prune removed it.
public struct AuditVerifier {
    public let log: AuditLog

    public init(log: AuditLog) { self.log = log }

    package static func text(_ line: [UInt8]) -> String {
        String(decoding: line.prefix(4000), as: UTF8.self)
    }

    public func run() throws -> AuditVerification {
        var problems: [AuditProblem] = []
        let repoID = log.repository.config.id

        // 1. The local chain.
        let local = try log.readLocal()
        var localChain: String?
        var localHashes: [String] = []
        var localRecords: [AuditRecord] = []
        for (i, line) in local.enumerated() {
            let hash = SHA256.hex(line)
            localHashes.append(hash)
            guard let r = try? AuditRecord.decode(line: line) else {
                problems.append(.init(place: "local", chain: localChain, seq: i + 1, message: "line \(i + 1) of the local log is not a valid audit record (edited or damaged)", record: Self.text(line)))
                continue
            }
            localRecords.append(r)
            if localChain == nil { localChain = r.chain }
            let expectedPrev = i == 0 ? AuditRecord.genesis : localHashes[i - 1]
            let expectedSeq = (localRecords.dropLast().last?.seq ?? 0) + 1
            if r.seq != expectedSeq || r.prev != expectedPrev || r.chain != localChain || r.repository != repoID {
                problems.append(.init(place: "local", chain: r.chain, seq: r.seq,
                                      message: "the local log's hash chain breaks at line \(i + 1): the record before it was edited or removed, or this one was inserted",
                                      record: Self.text(line)))
            }
        }

        // 2. Every chain in the repository.
        var damaged: [(String, LifeboatError)] = []
        let stored = try log.readRepository { damaged.append(($0, $1)) }
        for (name, e) in damaged {
            problems.append(.init(place: "repository", chain: nil, seq: nil, message: "audit object \(name.prefix(8)): \(e.message)", record: nil))
        }
        var chains: [String: [(record: AuditRecord, line: [UInt8], hash: String)]] = [:]
        var repoRecords: [AuditRecord] = []
        for line in stored {
            guard let r = try? AuditRecord.decode(line: line) else {
                problems.append(.init(place: "repository", chain: nil, seq: nil, message: "an audit object authenticates but is not a valid record", record: Self.text(line)))
                continue
            }
            repoRecords.append(r)
            chains[r.chain, default: []].append((r, line, SHA256.hex(line)))
        }
        for (chain, entries) in chains.sorted(by: { $0.key < $1.key }) {
            let sorted = entries.sorted { $0.record.seq < $1.record.seq }
            var expectedSeq = 1
            var prevHash = AuditRecord.genesis
            for e in sorted {
                if e.record.seq < expectedSeq {
                    problems.append(.init(place: "repository", chain: chain, seq: e.record.seq, message: "chain \(chain) holds two records with number \(e.record.seq) (a forked or forged chain)", record: Self.text(e.line)))
                    continue
                }
                if e.record.seq > expectedSeq {
                    let range = e.record.seq - 1 == expectedSeq ? "record \(expectedSeq)" : "records \(expectedSeq)–\(e.record.seq - 1)"
                    problems.append(.init(place: "repository", chain: chain, seq: e.record.seq, message: "\(range) of chain \(chain) (\(e.record.host), \(e.record.user)) are missing from the repository: deleted", record: Self.text(e.line)))
                } else if e.record.prev != prevHash {
                    problems.append(.init(place: "repository", chain: chain, seq: e.record.seq, message: "chain \(chain) breaks at record \(e.record.seq): it does not follow the record before it", record: Self.text(e.line)))
                }
                if e.record.repository != repoID {
                    problems.append(.init(place: "repository", chain: chain, seq: e.record.seq, message: "record \(e.record.seq) of chain \(chain) belongs to another repository", record: Self.text(e.line)))
                }
                expectedSeq = e.record.seq + 1
                prevHash = e.hash
            }
        }

        // 3. The local chain against its copy in the repository.
        if let localChain {
            let inRepo = Set((chains[localChain] ?? []).map(\.hash))
            for (i, hash) in localHashes.enumerated() where !inRepo.contains(hash) {
                problems.append(.init(place: "repository", chain: localChain, seq: i + 1, message: "local record \(i + 1) is missing from the repository (deleted there, or it could not be uploaded)", record: Self.text(local[i])))
            }
            let localSet = Set(localHashes)
            for e in chains[localChain] ?? [] where !localSet.contains(e.hash) {
                problems.append(.init(place: "local", chain: localChain, seq: e.record.seq, message: "record \(e.record.seq) is in the repository but not in the local log: the local log was cut short or replaced", record: Self.text(e.line)))
            }
        }

        // 4. Snapshots against the trail.
        problems += try checkSnapshots(records: repoRecords + localRecords)
        problems += try checkAttestations(records: repoRecords + localRecords)

        return AuditVerification(ok: problems.isEmpty, localPath: log.path, localRecords: local.count,
                                 repositoryRecords: stored.count, chains: chains.count, problems: problems)
    }

    private func checkSnapshots(records: [AuditRecord]) throws -> [AuditProblem] {
        var created: [String: AuditRecord] = [:]
        var removed: [String: AuditRecord] = [:]
        for r in records {
            if r.operation == "snapshot", r.result == .ok, let id = r.details[AuditDetail.snapshot]?.stringValue {
                created[id] = r
            }
            if let list = r.details[AuditDetail.removedSnapshots]?.stringValue {
                for id in list.split(separator: ",") { removed[String(id)] = r }
            }
        }
        let present = Set(try log.repository.listSnapshots(damaged: { _, _ in }).map(\.id))
        var problems: [AuditProblem] = []
        for (id, r) in created.sorted(by: { $0.value.time < $1.value.time }) where removed[id] == nil && !present.contains(id) {
            problems.append(.init(place: "snapshots", chain: r.chain, seq: r.seq,
                                  message: "snapshot \(id.prefix(8)) of \(r.source ?? "?") made at \(r.time) is missing from the repository, and no forget or prune removed it (deleted: restores would silently use an older snapshot)", record: nil))
        }
        for id in present.sorted() {
            if let r = removed[id] {
                problems.append(.init(place: "snapshots", chain: r.chain, seq: r.seq,
                                      message: "snapshot \(id.prefix(8)) was removed by \(r.operation) at \(r.time) but is in the repository again (a replayed manifest, or that forget was interrupted before deleting it: run forget again)", record: nil))
            }
        }
        return problems
    }

    /// Every attestation in the repository must be one a `verify` recorded: one that is not was
    /// planted, or rewritten and renamed (a restore would skip SQLite's check on its word).
    private func checkAttestations(records: [AuditRecord]) throws -> [AuditProblem] {
        var recorded = Set<String>()
        for r in records where r.operation == "verify" {
            if let name = r.details[AuditDetail.attestation]?.stringValue { recorded.insert(name) }
        }
        return try log.repository.backend.list(.attestations).map(\.key.name).sorted().filter { !recorded.contains($0) }.map { name in
            AuditProblem(place: "attestations", chain: nil, seq: nil,
                         message: "attestation \(name.prefix(8)) is in the repository but no 'lifeboat verify' recorded it (planted, or rewritten): delete it, then run 'lifeboat verify' on its snapshot again", record: nil)
        }
    }
}
