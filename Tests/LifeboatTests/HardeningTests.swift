import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Secrets stay out of argv, child environments, outputs and errors; weak file modes are
/// warned about; swapped and truncated stored objects are caught.
final class HardeningTests: XCTestCase {
    func readProc(_ pid: Int32, _ file: String) -> [UInt8]? {
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/\(file)") else { return nil }
        return [UInt8](d)
    }

    func testThePassphraseIsNeverInTheCommandLineOrEnvironmentOfARunningSnapshot() throws {
        let sb = try Sandbox()
        let db = sb.path("big.db")
        try TestDB.createMixed(db, megabytes: 24)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let (p, out, err) = try CLI.start(["snapshot", db, "--json"], env: sb.env())
        var samples = 0
        var sawArguments = false
        while p.isRunning {
            if let cmdline = readProc(p.processIdentifier, "cmdline"), !cmdline.isEmpty {
                samples += 1
                sawArguments = sawArguments || cmdline.contains("snapshot")
                XCTAssertFalse(cmdline.contains(Sandbox.passphrase), "passphrase in /proc/PID/cmdline")
                XCTAssertFalse(cmdline.contains("passphrase-"), "passphrase in /proc/PID/cmdline")
                if let environ = readProc(p.processIdentifier, "environ") {
                    XCTAssertFalse(environ.contains(Sandbox.passphrase), "passphrase in /proc/PID/environ")
                }
            }
            usleep(2000)
        }
        _ = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertGreaterThan(samples, 3, "the snapshot ran too briefly to be observed")
        XCTAssertTrue(sawArguments)
    }

    /// A password command (e.g. a Vault CLI) runs as a child process: it must not receive the
    /// passphrase variables Lifeboat itself was given.
    func testChildProcessesDoNotInheritPassphraseVariables() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let decoy = "decoy-secret-\(UUID().uuidString)"
        let dump = sb.path("child-env")
        let viaCommand = try sb.lifeboat("snapshots", env: [
            "LIFEBOAT_PASSWORD_FILE": "",
            "LIFEBOAT_PASSWORD_COMMAND": "env > '\(dump)'; cat '\(sb.passwordFile)'",
            "LIFEBOAT_PASSWORD": decoy,
            "LIFEBOAT_NEW_PASSWORD": decoy + "-new",
        ])
        XCTAssertEqual(viaCommand.status, 0, viaCommand.stderr)
        let env = try FileIO.readFile(dump)
        XCTAssertTrue(env.contains("LIFEBOAT_REPOSITORY="), "the child did run with an environment")
        XCTAssertFalse(env.contains(decoy), "LIFEBOAT_PASSWORD reached a child process")

        // key add: the new-passphrase command must not see the current passphrase either.
        let newFile = sb.path("new-pass")
        try Data("fresh-\(UUID().uuidString)\n".utf8).write(to: URL(fileURLWithPath: newFile))
        chmod(newFile, 0o600)
        let dump2 = sb.path("child-env-2")
        let add = try sb.lifeboat("key", "add", env: [
            "LIFEBOAT_PASSWORD_FILE": "",
            "LIFEBOAT_PASSWORD": Sandbox.passphrase,
            "LIFEBOAT_NEW_PASSWORD_COMMAND": "env > '\(dump2)'; cat '\(newFile)'",
        ])
        XCTAssertEqual(add.status, 0, add.stderr)
        XCTAssertFalse(try FileIO.readFile(dump2).contains(Sandbox.passphrase), "the passphrase reached a child process")
    }

    func testWorldReadablePassphraseFilesAreWarnedAbout() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        chmod(sb.passwordFile, 0o644)
        let r = try sb.lifeboat("snapshots")
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("readable by other users") && r.stderr.contains("chmod 600 \(sb.passwordFile)"), r.stderr)
        chmod(sb.passwordFile, 0o600)
        XCTAssertFalse(try sb.lifeboat("snapshots").stderr.contains("warning"))

        let newFile = sb.path("new-pass")
        try Data("fresh-\(UUID().uuidString)\n".utf8).write(to: URL(fileURLWithPath: newFile))
        chmod(newFile, 0o640)
        let add = try sb.lifeboat("key", "add", env: ["LIFEBOAT_NEW_PASSWORD_FILE": newFile])
        XCTAssertEqual(add.status, 0)
        XCTAssertTrue(add.stderr.contains("passphrase file \(newFile) is readable by other users"), add.stderr)
    }

    func testErrorsAndOutputsNeverContainThePassphrase() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let wrong = "wrong-but-sensitive-\(UUID().uuidString)"
        let wrongFile = sb.path("wrong")
        try Data(wrong.utf8).write(to: URL(fileURLWithPath: wrongFile))
        chmod(wrongFile, 0o600)
        var outputs: [CLIResult] = []
        outputs.append(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": wrongFile]))
        XCTAssertEqual(outputs.last?.status, 12)
        outputs.append(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_PASSWORD_COMMAND": "echo '\(wrong)'; exit 3"]))
        XCTAssertEqual(outputs.last?.status, 64)
        outputs.append(try sb.lifeboat("key", "list", "--json"))
        outputs.append(try sb.lifeboat("audit", "show", "--json"))
        outputs.append(try sb.lifeboat("check", "--json"))
        for o in outputs {
            for secret in [wrong, Sandbox.passphrase] {
                XCTAssertFalse(o.stdout.contains(secret) || o.stderr.contains(secret), "a secret in an output")
            }
        }
    }

    func testATruncatedPackIsDetectedAndNeverRestored() throws {
        let sb = try Sandbox()
        let db = sb.path("t.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let pack = try XCTUnwrap(try LocalBackend(path: sb.repo).list(.data).first)
        let path = sb.repo + "/" + pack.key.path
        // Cut into the blob area (cutting only the header at the end leaves every blob a
        // restore reads intact; check still reports that).
        XCTAssertEqual(truncate(path, off_t(pack.size / 2)), 0)
        let check = try sb.lifeboat("check")
        XCTAssertEqual(check.status, 13)
        XCTAssertTrue(check.stdout.contains("\(pack.size / 2) bytes, the index says \(pack.size)"), check.stdout)
        let restore = try sb.lifeboat("restore", "latest", "--to", sb.path("out.db"))
        XCTAssertNotEqual(restore.status, 0)
        XCTAssertFalse(FileIO.fileExists(sb.path("out.db")))
        XCTAssertEqual(restore.stderr.split(separator: "\n").count, 1, restore.stderr)
    }

    /// Two valid packs exchanged under each other's names, and two valid blobs exchanged
    /// inside one pack: every byte still authenticates on its own, but not in its place.
    func testSwappedPacksAndSwappedBlobsAreDetected() throws {
        let sb = try Sandbox()
        let db = sb.path("s.db")
        try TestDB.createMixed(db, megabytes: 2, journal: "delete")
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE attachments SET content = randomblob(1200) WHERE id % 7 = 0")
        // One page to a frame, so that frames of equal stored length exist (incompressible
        // pages stored as they are) and can be exchanged without touching anything else.
        var single = Snapshotter.Options(source: "s.db")
        single.framePages = 1
        _ = try Snapshotter(repository: try sb.openRepository(), options: single).run(databasePath: db)

        // Blobs: two incompressible single-page frames of equal stored length in one pack,
        // exchanged: each still decrypts (frames are not bound to their pages' ids by the
        // authenticated data), so only the per-page id check can catch it.
        let blobCopy = sb.path("blob-swap")
        try FileManager.default.copyItem(atPath: sb.repo, toPath: blobCopy)
        let repo = try sb.openRepository()
        let index = try repo.loadIndex()
        let latest = try repo.findSnapshot("latest", source: nil)
        let used = Set(try PageTableReader(repo: repo, index: index, codec: BlobCodec(keys: repo.keys)).pageIDs(of: latest.manifest))
        var byPackAndLength: [String: [BlobLocation]] = [:]
        index.forEach { id, loc in
            if loc.type == .framedPage && used.contains(id) { byPackAndLength["\(loc.pack)/\(loc.length)", default: []].append(loc) }
        }
        let pair = try XCTUnwrap(byPackAndLength.values.first { Set($0.map(\.offset)).count >= 2 }.map { locs in
            locs.reduce(into: [BlobLocation]()) { kept, l in if !kept.contains(where: { $0.offset == l.offset }) { kept.append(l) } }
        })
        let packPath = blobCopy + "/" + ObjectKey(.data, index.packs[Int(pair[0].pack)]).path
        var bytes = try FileIO.readFile(packPath)
        let a = Int(pair[0].offset), b = Int(pair[1].offset), n = Int(pair[0].length)
        let first = Array(bytes[a..<(a + n)])
        bytes.replaceSubrange(a..<(a + n), with: bytes[b..<(b + n)])
        bytes.replaceSubrange(b..<(b + n), with: first)
        chmod(packPath, 0o600)
        try Data(bytes).write(to: URL(fileURLWithPath: packPath))
        let blobRestore = try sb.lifeboat("restore", "latest", "--to", sb.path("blob.db"), env: ["LIFEBOAT_REPOSITORY": blobCopy])
        XCTAssertEqual(blobRestore.status, 13, blobRestore.stderr)
        XCTAssertTrue(blobRestore.stderr.contains("fails authentication"), blobRestore.stderr)
        XCTAssertEqual(try sb.lifeboat("check", "--read-data", env: ["LIFEBOAT_REPOSITORY": blobCopy]).status, 13)

        // Packs: the two packs of pages (the largest; the others hold page-table blobs)
        // exchanged, names kept.
        let listed = try LocalBackend(path: sb.repo).list(.data)
        XCTAssertEqual(listed.count, 4)
        let packs = listed.sorted { $0.size > $1.size }.prefix(2).map { sb.repo + "/" + $0.key.path }
        let p0 = try FileIO.readFile(packs[0]), p1 = try FileIO.readFile(packs[1])
        for p in packs { chmod(p, 0o600) }
        try Data(p1).write(to: URL(fileURLWithPath: packs[0]))
        try Data(p0).write(to: URL(fileURLWithPath: packs[1]))
        let check = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check.status, 13)
        XCTAssertTrue(check.stdout.contains("does not match its name") || check.stdout.contains("bytes, the index says"), check.stdout)
        let restore = try sb.lifeboat("restore", "latest", "--to", sb.path("pack.db"))
        XCTAssertNotEqual(restore.status, 0)
        XCTAssertFalse(FileIO.fileExists(sb.path("pack.db")))
    }
}
