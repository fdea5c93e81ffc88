import Foundation
import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

/// Key slots and master-key rotation, through the real binary.
final class KeyTests: XCTestCase {
    func writeSecret(_ sb: Sandbox, _ name: String, _ value: String) throws -> String {
        let p = sb.path(name)
        try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: p))
        chmod(p, 0o600)
        return p
    }

    func testAddListPasswdRemoveAndTheLastKeyIsKept() throws {
        let sb = try Sandbox()
        let db = sb.path("k.db")
        try TestDB.create(db, journal: "wal", rows: 500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db).status, 0)
        let second = try writeSecret(sb, "second", "second-slot-pass-\(UUID().uuidString)")

        // add: a second slot opens the same repository.
        let add = try sb.lifeboat("key", "add", "--json", env: ["LIFEBOAT_NEW_PASSWORD_FILE": second])
        XCTAssertEqual(add.status, 0, add.stderr)
        let secondID = try XCTUnwrap(try add.json()["id"] as? String)
        let list = try sb.lifeboat("key", "list", "--json")
        let slots = try list.jsonArray()
        XCTAssertEqual(slots.count, 2)
        XCTAssertEqual(slots.filter { $0["current"] as? Bool == true }.count, 1)
        XCTAssertTrue(slots.allSatisfy { ($0["scrypt_n"] as? Int ?? 0) >= 1 << 15 }, "KDF strong by default and stored per slot")
        XCTAssertFalse(list.stdout.contains("wrapped") || list.stdout.contains("salt"), "key list shows nothing secret")
        let viaSecond = try sb.lifeboat("restore", "latest", "--to", sb.path("r2.db"), env: ["LIFEBOAT_PASSWORD_FILE": second])
        XCTAssertEqual(viaSecond.status, 0, viaSecond.stderr)

        // The same passphrase twice is refused.
        XCTAssertNotEqual(try sb.lifeboat("key", "add", env: ["LIFEBOAT_NEW_PASSWORD_FILE": second]).status, 0)
        // The slot in use cannot be removed (it would lock this user out).
        let current = try XCTUnwrap(slots.first { $0["current"] as? Bool == true }?["id"] as? String)
        let refuse = try sb.lifeboat("key", "remove", String(current.prefix(10)))
        XCTAssertEqual(refuse.status, 64)
        XCTAssertTrue(refuse.stderr.contains("in use"), refuse.stderr)

        // passwd: the new passphrase opens, the old one no longer does.
        let third = try writeSecret(sb, "third", "third-pass-\(UUID().uuidString)")
        let passwd = try sb.lifeboat("key", "passwd", env: ["LIFEBOAT_NEW_PASSWORD_FILE": third])
        XCTAssertEqual(passwd.status, 0, passwd.stderr)
        XCTAssertEqual(try sb.lifeboat("snapshots").status, 12, "the old passphrase's slot is gone")
        XCTAssertEqual(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": third]).status, 0)

        // remove the second slot, then the last one is refused.
        XCTAssertEqual(try sb.lifeboat("key", "remove", String(secondID.prefix(12)), env: ["LIFEBOAT_PASSWORD_FILE": third]).status, 0)
        let remaining = try sb.lifeboat("key", "list", "--json", env: ["LIFEBOAT_PASSWORD_FILE": third]).jsonArray()
        XCTAssertEqual(remaining.count, 1)
        let last = try XCTUnwrap(remaining.first?["id"] as? String)
        let refused = try sb.lifeboat("key", "remove", last, env: ["LIFEBOAT_PASSWORD_FILE": third])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("last key"), refused.stderr)
        XCTAssertEqual(try LocalBackend(path: sb.repo).list(.keys).count, 1)

        // Without any new passphrase source and no terminal: a clear usage error.
        let none = try sb.lifeboat("key", "add", env: ["LIFEBOAT_PASSWORD_FILE": third])
        XCTAssertEqual(none.status, 64)
        XCTAssertTrue(none.stderr.contains("LIFEBOAT_NEW_PASSWORD_FILE"), none.stderr)
    }

    func testRotationSealsNewDataWithANewKeyAndKeepsOldSnapshotsReadable() throws {
        let sb = try Sandbox()
        let db = sb.path("rot.db")
        try TestDB.create(db, journal: "delete", rows: 1500)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let a = try sb.lifeboat("snapshot", db, "--json").json()
        let idA = try XCTUnwrap(a["id"] as? String)
        let bytesA = try FileIO.readFile(db)
        let before = try sb.openRepository()

        // Another slot exists: rotation refuses until told to remove it.
        let other = try writeSecret(sb, "other", "other-\(UUID().uuidString)")
        XCTAssertEqual(try sb.lifeboat("key", "add", env: ["LIFEBOAT_NEW_PASSWORD_FILE": other]).status, 0)
        let refused = try sb.lifeboat("key", "rotate")
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--remove-other-keys"), refused.stderr)
        let rotate = try sb.lifeboat("key", "rotate", "--remove-other-keys", "--json")
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        XCTAssertEqual(try rotate.json()["generation"] as? Int, 1)
        XCTAssertEqual((try rotate.json()["removed_slots"] as? [String])?.count, 2)
        XCTAssertEqual(try sb.lifeboat("snapshots", env: ["LIFEBOAT_PASSWORD_FILE": other]).status, 12, "removed slots no longer open")

        // The next snapshot is stored in full under the new key.
        let w = try SQLiteConnection(path: db)
        try w.execute("UPDATE items SET body = 'after rotation' WHERE id % 40 = 0")
        let b = try sb.lifeboat("snapshot", db, "--json").json()
        let idB = try XCTUnwrap(b["id"] as? String)
        XCTAssertEqual(b["pages_new"] as? Int, b["pages"] as? Int, "nothing is shared with data under the old key")
        let bytesB = try FileIO.readFile(db)
        let after = try sb.openRepository()
        XCTAssertEqual(after.keyring.generations, [0, 1])
        XCTAssertEqual(try after.loadManifest(idB).keyGeneration, 1)
        XCTAssertNil(try after.loadManifest(idA).keyGeneration)

        // Whoever holds only the old master key cannot read anything written after rotation.
        XCTAssertThrowsError(try before.loadManifest(idB)) { XCTAssertEqual(($0 as? LifeboatError)?.kind, .corrupt) }
        XCTAssertThrowsError(try before.loadIndex(), "new index files are sealed with the new key")
        XCTAssertNoThrow(try before.loadManifest(idA))

        // Both snapshots restore exactly, and check reads every generation.
        XCTAssertEqual(try sb.lifeboat("restore", idA, "--to", sb.path("a.db")).status, 0)
        XCTAssertEqual(try sb.lifeboat("restore", idB, "--to", sb.path("b.db")).status, 0)
        XCTAssertEqual(try FileIO.readFile(sb.path("a.db")), bytesA)
        XCTAssertEqual(try FileIO.readFile(sb.path("b.db")), bytesB)
        let check = try sb.lifeboat("check", "--read-data")
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)

        // A second rotation, then an incremental snapshot within the new generation.
        XCTAssertEqual(try sb.lifeboat("key", "rotate").status, 0)
        XCTAssertEqual(try sb.lifeboat("snapshot", db, "--json").json()["pages_new"] as? Int, b["pages"] as? Int)
        let again = try sb.lifeboat("snapshot", db, "--json").json()
        XCTAssertEqual(again["pages_new"] as? Int, 0, "within one generation snapshots stay incremental")
        XCTAssertEqual(try sb.lifeboat("check", "--read-data").status, 0)
        XCTAssertEqual(try sb.lifeboat("restore", idA, "--to", sb.path("a2.db")).status, 0)
        XCTAssertEqual(try FileIO.readFile(sb.path("a2.db")), bytesA)
    }

    /// `key rotate` finds the passphrase where every other command does: with no
    /// LIFEBOAT_PASSWORD* variable set, in the config file's `password` reference.
    func testRotateTakesThePassphraseFromTheConfigFile() throws {
        let sb = try Sandbox()
        let db = sb.path("cfg.db")
        try TestDB.create(db, journal: "wal", rows: 300)
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let config = sb.path("lifeboat.yml")
        try Data("repositories: [\(sb.repo)]\npassword:\n  file: \(sb.passwordFile)\n".utf8).write(to: URL(fileURLWithPath: config))
        var e = sb.env(["LIFEBOAT_CONFIG": config])
        e["LIFEBOAT_PASSWORD_FILE"] = nil
        let rotate = try CLI.run(["key", "rotate", "--json"], env: e)
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        XCTAssertEqual(try rotate.json()["generation"] as? Int, 1)
        let snap = try CLI.run(["snapshot", db, "--json"], env: e)
        XCTAssertEqual(snap.status, 0, snap.stderr)
        XCTAssertEqual(try sb.openRepository().keyring.current, 1)
    }

    func testKeyringRoundTripAndVersionedKeyFiles() throws {
        var pw = Array("unit-pass".utf8)
        let pass = SecretBytes(consuming: &pw)
        let small = ScryptParameters(n: 16, r: 1, p: 1)
        let ring = try Keyring(single: MasterKeys.generate()).rotated().rotated()
        XCTAssertEqual(ring.generations, [0, 1, 2])
        XCTAssertEqual(ring.current, 2)
        let file = try KeyFile.create(keyring: ring, passphrase: pass, parameters: small)
        XCTAssertEqual(file.version, 2)
        // The descriptive fields are authenticated: a forged "created" or "user" fails to open.
        var forged = file
        forged.user = "someone-else"
        XCTAssertNil(try forged.unwrap(passphrase: pass))
        let back = try XCTUnwrap(try KeyFile.decode(try file.encoded()).unwrap(passphrase: pass))
        XCTAssertEqual(back.generations, [0, 1, 2])
        for g in ring.generations {
            XCTAssertEqual(try back.keys(generation: g).material.copyBytes(), try ring.keys(generation: g).material.copyBytes())
        }
        // A version-1 slot (as Lifeboat 0.1.0 wrote them) still opens, as generation 0.
        let legacy = try KeyTests.legacyKeyFile(ring.keys(generation: 0), passphrase: pass, parameters: small)
        let opened = try XCTUnwrap(try KeyFile.decode(try legacy.encoded()).unwrap(passphrase: pass))
        XCTAssertEqual(opened.generations, [0])
        XCTAssertEqual(opened.currentKeys.material.copyBytes(), try ring.keys(generation: 0).material.copyBytes())
        var wrong = Array("other".utf8)
        XCTAssertNil(try file.unwrap(passphrase: SecretBytes(consuming: &wrong)))
        XCTAssertThrowsError(try back.keys(generation: 7))
        // Forged scrypt parameters that would need gigabytes are refused before any work.
        XCTAssertFalse(ScryptParameters(n: 1 << 24, r: 8, p: 1).isSane)
        XCTAssertFalse(ScryptParameters(n: 1 << 20, r: 64, p: 16).isSane)
        XCTAssertTrue(ScryptParameters.standard.isSane)
    }

    /// A key file exactly as version 1 wrote it: the bare master material, fixed AAD.
    static func legacyKeyFile(_ master: MasterKeys, passphrase: SecretBytes, parameters: ScryptParameters) throws -> KeyFile {
        let salt = try SecureRandom.bytes(32)
        let kek = try KDF.scrypt(passphrase: passphrase, salt: salt, parameters: parameters)
        let sealed = try AEADContext(key: kek).seal(master.material.copyBytes(), aad: Array("lifeboat:key".utf8))
        return KeyFile(version: 1, created: "2026-01-01T00:00:00Z", kdf: "scrypt", scrypt: parameters,
                       salt: Data(salt).base64EncodedString(), wrapped: Data(sealed).base64EncodedString(), host: nil, user: nil)
    }

    /// At a terminal the new passphrase is typed twice with echo off: it must not appear in
    /// what the terminal shows. Driven through a real pseudo-terminal (python3's pty).
    func testNewPassphraseIsReadFromTheTerminalWithoutEcho() throws {
        let sb = try Sandbox()
        XCTAssertEqual(try sb.lifeboat("init").status, 0)
        let typed = "typed-at-tty-\(UUID().uuidString.prefix(8))"
        let driver = sb.path("drive_tty.py")  // not pty.py: that would shadow the module
        try Data("""
            import os, pty, sys, time
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], [sys.argv[1], "key", "add"])
            out = b""
            def wait_for(s):
                global out
                end = time.time() + 20
                while s not in out and time.time() < end:
                    try:
                        chunk = os.read(fd, 1024)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
            wait_for(b"new passphrase: ")
            time.sleep(0.2)
            os.write(fd, sys.argv[2].encode() + b"\\n")
            wait_for(b"repeat new passphrase: ")
            time.sleep(0.2)
            os.write(fd, sys.argv[2].encode() + b"\\n")
            wait_for(b"added key")
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit(os.WEXITSTATUS(status))
            """.utf8).write(to: URL(fileURLWithPath: driver))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [driver, CLI.binary, typed]
        p.environment = sb.env()
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let shown = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, shown)
        XCTAssertTrue(shown.contains("repeat new passphrase"), shown)
        XCTAssertTrue(shown.contains("added key"), shown)
        XCTAssertFalse(shown.contains(typed), "the typed passphrase was echoed: \(shown)")
        // And the typed passphrase really opens the repository.
        XCTAssertEqual(try sb.lifeboat("key", "list", env: ["LIFEBOAT_PASSWORD_FILE": "", "LIFEBOAT_PASSWORD": typed]).status, 0)
    }
}
