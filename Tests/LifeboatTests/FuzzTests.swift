import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// A small deterministic mutation fuzzer: from valid seeds it makes inputs with flipped bits,
/// random bytes, boundary values at aligned offsets (counts, lengths), insertions, deletions,
/// duplications and truncations, and feeds them to a parser. Any outcome but a value or a
/// `LifeboatError` fails the test; a trap would crash the whole test run. Deterministic (a fixed
/// seed per target) and time-boxed, so a failure reproduces and the suite stays fast.
struct Fuzzer {
    var rng: SeededGenerator
    let name: String
    var iterations = 0
    /// Inputs the parser accepted: a fuzzer whose mutations are all rejected at once tests little.
    var accepted = 0

    init(_ name: String, seed: UInt64) {
        self.name = name
        rng = SeededGenerator(seed: seed)
    }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(9) {
            case 0 where !b.isEmpty:
                b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8))
            case 1 where !b.isEmpty:
                b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2 where b.count >= 4:
                // A boundary value over a 4-byte field: where counts and lengths live.
                let at = rng.below(b.count / 4) * 4
                let values: [UInt32] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xffff, UInt32(b.count), UInt32(rng.below(1 << 20))]
                let v = values[rng.below(values.count)]
                for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
            case 3:
                b = Array(b.prefix(rng.below(b.count + 1)))
            case 4 where !b.isEmpty:
                let at = rng.below(b.count), n = min(b.count - at, 1 + rng.below(16))
                b.removeSubrange(at..<(at + n))
            case 5:
                let at = rng.below(b.count + 1)
                b.insert(contentsOf: (0..<(1 + rng.below(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 6 where !b.isEmpty:
                let at = rng.below(b.count), n = min(b.count - at, 1 + rng.below(64))
                b.insert(contentsOf: b[at..<(at + n)], at: rng.below(b.count + 1))
            case 7 where !b.isEmpty:
                // ASCII digits and JSON punctuation, to reach deeper into JSON parsers.
                let tokens: [[UInt8]] = ["9", "-1", "1e308", "null", "\"", "{", "]", ",", "99999999999999999999", "\\u0000"].map { Array($0.utf8) }
                let t = tokens[rng.below(tokens.count)]
                let at = rng.below(b.count)
                b.replaceSubrange(at..<min(b.count, at + t.count), with: t)
            default:
                if !b.isEmpty { b[b.count - 1 - rng.below(min(b.count, 8))] &+= 1 }
            }
        }
        return b
    }

    /// Runs `body` on mutations of the seeds until `count` runs or `seconds` pass.
    mutating func run(seeds: [[UInt8]], count: Int = 3000, seconds: Double = 1.5, _ body: ([UInt8]) throws -> Void) {
        let deadline = Date().addingTimeInterval(seconds)
        for i in 0..<count {
            if i % 64 == 0 && Date() > deadline { break }
            let seed = seeds[rng.below(seeds.count)]
            let input = i == 0 ? seed : mutate(seed)
            do {
                try body(input)
                accepted += 1
            } catch is LifeboatError {} catch {
                XCTFail("\(name): a non-Lifeboat error \(type(of: error)) for input \(Hex.encode(input.prefix(64)))…")
                return
            }
            iterations += 1
        }
        XCTAssertGreaterThan(iterations, 200, "\(name) ran too few iterations to mean anything")
        print("fuzz \(name): \(iterations) inputs, \(accepted) accepted")
    }
}

final class FuzzTests: XCTestCase {
    let keys = try? MasterKeys.generate()

    func masterKeys() throws -> MasterKeys { try XCTUnwrap(keys) }

    func testManifestJSON() throws {
        let m = Manifest(version: 1, source: "bpm.db", timeMs: 1_700_000_000_000, host: "h", database: "/srv/bpm.db",
                         pageSize: 4096, pageCount: 513, journalMode: "wal", tableRoot: String(repeating: "ab", count: 16),
                         tableDelta: String(repeating: "cd", count: 16), deltaCount: 3, parent: "p", imageDigest: "00",
                         pagesNew: 4, bytesAdded: 99, toolVersion: "0.1.0", keyGeneration: 2,
                         replication: ReplicationPoint(lineage: "0123456789abcdef", seq: 9,
                                                       wal: WALPosition(salt1: 1, salt2: 2, checkpointSequence: 3, frames: 4, checksum0: 5, checksum1: 6, inode: 7)))
        let seed = try JSONCoding.encode(m)
        XCTAssertEqual(try Manifest.decode(seed, id: "x").replication?.wal?.frames, 4)
        XCTAssertEqual(try Manifest.decode(seed, id: "x").keyGeneration, 2)
        var f = Fuzzer("manifest", seed: 1)
        f.run(seeds: [seed]) { _ = try Manifest.decode($0, id: "fuzz") }
    }

    func testAttestationJSON() throws {
        let a = Attestation(snapshot: String(repeating: "ab", count: 32), source: "bpm", imageDigest: String(repeating: "cd", count: 32),
                            outcome: .failed, problems: ["row 3 missing from index t_a"], foreignKeys: "ok",
                            checkedAtMs: 1_700_000_000_000, seconds: 1.5, toolVersion: "0.1.0", host: "h")
        let seed = try JSONCoding.encode(a)
        XCTAssertEqual(try Attestation.decode(seed), a)
        var f = Fuzzer("attestation", seed: 1)
        f.run(seeds: [seed]) { _ = try Attestation.decode($0) }
    }

    func testWholeObjectEnvelopeAndCompressedBody() throws {
        let sb = try Sandbox()
        var pw = Array("fuzz".utf8)
        let repo = try Repository.initialize(backend: LocalBackend(path: sb.repo), passphrase: SecretBytes(consuming: &pw))
        let plain = Array(String(repeating: "{\"a\":1,\"b\":[1,2,3]}", count: 40).utf8)
        let stored = try repo.seal(plain, kind: "snapshots")
        XCTAssertEqual(try repo.unseal(stored, kind: "snapshots", name: "x"), plain)
        var outer = Fuzzer("whole object", seed: 2)
        outer.run(seeds: [stored]) { _ = try repo.unseal($0, kind: "snapshots", name: "fuzz") }
        // Behind authentication: the zstd frame parser, with a bounded output size.
        let frame = try ZstdCompressor(level: 3).compress(plain)
        var inner = Fuzzer("zstd frame", seed: 3)
        inner.run(seeds: [frame]) { _ = try ZstdDecompressor().decompress($0, maxSize: 1 << 20) }
    }

    func testDamageRecordJSON() throws {
        let r = DamageRecord(timeMs: 1_700_000_000_000, host: "h", operation: "check",
                             packs: [.init(pack: String(repeating: "ab", count: 32), state: .damaged, problem: "pack abababab has 0 bytes, the index says 9", evidence: .listing),
                                     .init(pack: String(repeating: "cd", count: 32), state: .whole)])
        let seed = try r.encoded()
        XCTAssertEqual(try DamageRecord.decode(seed, name: "x"), r)
        var f = Fuzzer("damage record", seed: 31)
        f.run(seeds: [seed]) { _ = try DamageRecord.decode($0, name: "fuzz") }
    }

    func testPackHeader() throws {
        let keys = try masterKeys()
        let aead = try AEADContext(key: keys.encryption)
        let codec = try BlobCodec(keys: keys)
        var blobArea: [UInt8] = []
        var entries: [PackEntry] = []
        for i in 0..<6 {
            let plain = Array("page \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: 300)
            let id = codec.hasher.id(plain)
            let sealed = try codec.seal(plain, type: .page, id: id)
            entries.append(PackEntry(type: .page, id: id, offset: UInt32(blobArea.count), length: UInt32(sealed.count), rawLength: UInt32(plain.count)))
            blobArea += sealed
        }
        let pack = blobArea + (try PackFormat.encodeHeader(entries, aead: aead))
        XCTAssertEqual(try PackFormat.decodeHeader(pack: pack, aead: aead, name: "p"), entries)
        var outer = Fuzzer("pack", seed: 4)
        outer.run(seeds: [pack]) { _ = try PackFormat.decodeHeader(pack: $0, aead: aead, name: "fuzz") }

        // Behind authentication: forged header plaintexts sealed with the right key.
        var w = ByteWriter()
        w.raw(PackFormat.headerMagic)
        w.u32(1)
        w.u32(UInt32(entries.count))
        for e in entries { e.encode(into: &w) }
        var inner = Fuzzer("pack header plaintext", seed: 5)
        inner.run(seeds: [w.bytes]) { header in
            let sealed = try aead.seal(header, aad: PackFormat.headerAAD)
            var t = ByteWriter()
            t.raw(blobArea)
            t.raw(sealed)
            t.u32(UInt32(sealed.count))
            let found = try PackFormat.decodeHeader(pack: t.bytes, aead: aead, name: "fuzz")
            for e in found { XCTAssertLessThanOrEqual(Int(e.offset) + Int(e.length), blobArea.count) }
        }
    }

    func testBlobEnvelopeAndBody() throws {
        let keys = try masterKeys()
        let codec = try BlobCodec(keys: keys)
        let text = Array(String(repeating: "task approved by manager; ", count: 150).utf8)
        let id = codec.hasher.id(text)
        let sealed = try codec.seal(text, type: .page, id: id)
        var outer = Fuzzer("blob", seed: 6)
        outer.run(seeds: [sealed]) { _ = try codec.open($0, type: .page, id: id, rawLength: text.count) }
        // Authenticated but forged bodies: unknown flags, bad zstd, wrong lengths.
        let aead = try AEADContext(key: keys.encryption)
        let aad = [BlobType.page.rawValue] + id.bytes
        let body = [BlobCodec.flagZstd] + (try ZstdCompressor(level: 1).compress(text))
        XCTAssertEqual(try codec.open(try aead.seal(body, aad: aad), type: .page, id: id, rawLength: text.count), text)
        var inner = Fuzzer("blob body", seed: 7)
        inner.run(seeds: [body, [BlobCodec.flagStored] + text]) { forged in
            _ = try codec.open(try aead.seal(forged, aad: aad), type: .page, id: id, rawLength: text.count)
        }
    }

    func testIndexFile() throws {
        var rng = SeededGenerator(seed: 8)
        func id() -> BlobID { BlobID(rng.next(), rng.next()) }
        let packs = (0..<3).map { p in
            IndexFile.Pack(name: Hex.encode((0..<32).map { _ in UInt8(truncatingIfNeeded: rng.next()) }), size: 1000 + p,
                           entries: (0..<5).map { e in PackEntry(type: .page, id: id(), offset: UInt32(e * 100), length: 90, rawLength: 4096) })
        }
        let seed = IndexFile(packs: packs).encode()
        XCTAssertEqual(try IndexFile.decode(seed, name: "i").packs.count, 3)
        var f = Fuzzer("index", seed: 9)
        f.run(seeds: [seed]) { _ = try IndexFile.decode($0, name: "fuzz") }
    }

    func testPageTableRootLeafAndDelta() throws {
        var rng = SeededGenerator(seed: 10)
        let leaves = (0..<3).map { _ in BlobID(rng.next(), rng.next()) }
        let root = PageTableFormat.encodeRoot(.init(pageCount: 2100, pageSize: 4096, fanout: 1024, leaves: leaves))
        XCTAssertEqual(try PageTableFormat.decodeRoot(root).leaves, leaves)
        var f1 = Fuzzer("table root", seed: 11)
        f1.run(seeds: [root]) { _ = try PageTableFormat.decodeRoot($0) }

        let leaf = (0..<64).flatMap { _ in BlobID(rng.next(), rng.next()).bytes }
        var f2 = Fuzzer("table leaf", seed: 12)
        f2.run(seeds: [leaf]) { _ = try PageTableFormat.decodeLeaf($0, expectedCount: 64) }

        let delta = PageTableFormat.encodeDelta([(3, leaves[0]), (70, leaves[1]), (2000, leaves[2])])
        XCTAssertEqual(try PageTableFormat.decodeDelta(delta, pageCount: 2100).count, 3)
        var f3 = Fuzzer("table delta", seed: 13)
        f3.run(seeds: [delta]) { _ = try PageTableFormat.decodeDelta($0, pageCount: 2100) }
    }

    func testKeyFileAndKeyring() throws {
        var pw = Array("fuzz-pass".utf8)
        let pass = SecretBytes(consuming: &pw)
        let cheap = ScryptParameters(n: 16, r: 1, p: 1)
        let ring = try Keyring(single: try masterKeys()).rotated()
        let v1 = try KeyTests.legacyKeyFile(try masterKeys(), passphrase: pass, parameters: cheap).encoded()
        let v2 = try KeyFile.create(keyring: ring, passphrase: pass, parameters: cheap).encoded()
        var f = Fuzzer("key file", seed: 14)
        f.run(seeds: [v1, v2], count: 2000) { bytes in
            let file = try KeyFile.decode(bytes)
            // Only unwrap when the (mutated) cost stays small: the cap on cost is tested elsewhere.
            if file.scrypt.n * file.scrypt.r * file.scrypt.p <= 4096 { _ = try file.unwrap(passphrase: pass) }
        }
        var g = Fuzzer("keyring", seed: 15)
        g.run(seeds: [ring.encode()]) { _ = try Keyring.decode($0) }
    }

    func testAuditRecord() throws {
        let r = AuditRecord(chain: "c", seq: 3, prev: AuditRecord.genesis, time: "2026-01-01T00:00:00Z", operation: "snapshot",
                            source: "bpm.db", result: .ok, error: nil, host: "h", user: "u", repository: "r",
                            details: ["pages": .int(4), "snapshot": .string("ab")])
        var f = Fuzzer("audit record", seed: 16)
        f.run(seeds: [try r.encodedLine()]) { _ = try AuditRecord.decode(line: $0) }
    }

    /// The WAL parser reads files written by other programs: mutated logs, and mutated logs
    /// whose checksums are recomputed so that forged frames get past the checksum gate.
    func testWALAndDatabaseHeader() throws {
        let sb = try Sandbox()
        let db = sb.path("w.db")
        let conn = try SQLiteConnection(path: db, mode: .readWriteCreate)
        try conn.execute("PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x TEXT)")
        for i in 0..<6 { try conn.execute("INSERT INTO t VALUES ('row \(i) \(String(repeating: "x", count: 300))')") }
        let wal = try FileIO.readFile(db + "-wal")
        let header = Array(try FileIO.readFile(db).prefix(100))
        XCTAssertGreaterThan(wal.count, 4096 * 3)
        let fuzzPath = sb.path("fuzz-wal")
        func scan(_ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: fuzzPath))
            let fd = open(fuzzPath, O_RDONLY)
            guard fd >= 0 else { throw LifeboatError(.io, "open") }
            defer { close(fd) }
            let index = try WALIndex.read(fd: fd, path: fuzzPath, expectedPageSize: 4096)
            for (page, offset) in index.frames {
                XCTAssertGreaterThan(page, 0)
                XCTAssertLessThanOrEqual(offset + 4096, bytes.count, "a frame offset past the end of the log")
            }
        }
        var f = Fuzzer("wal", seed: 17)
        f.run(seeds: [wal], count: 600) { try scan($0) }
        var g = Fuzzer("wal with fixed checksums", seed: 18)
        g.run(seeds: [wal], count: 600) { try scan(Self.fixChecksums($0)) }
        var h = Fuzzer("database header", seed: 19)
        h.run(seeds: [header]) { _ = try DatabaseHeader($0, path: "fuzz") }
    }

    /// Recomputes the WAL header and frame checksums (as SQLite would have written them).
    static func fixChecksums(_ input: [UInt8]) -> [UInt8] {
        var b = input
        guard b.count >= 32 else { return b }
        let bigEndian = b[3] & 1 == 1
        func put(_ v: UInt32, _ o: Int) { for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(i))) } }
        var (s0, s1) = WALIndex.checksum(b, 0, 24, bigEndian: bigEndian, s0: 0, s1: 0)
        put(s0, 24)
        put(s1, 28)
        let frame = 24 + 4096
        var o = 32
        while o + frame <= b.count {
            (s0, s1) = WALIndex.checksum(b, o, 8, bigEndian: bigEndian, s0: s0, s1: s1)
            (s0, s1) = WALIndex.checksum(b, o + 24, 4096, bigEndian: bigEndian, s0: s0, s1: s1)
            put(s0, o + 16)
            put(s1, o + 20)
            o += frame
        }
        return b
    }
}
