import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

final class CryptoTests: XCTestCase {
    func testHMACMatchesRFC4231() throws {
        var key = Array("Jefe".utf8)
        let h = try KeyedHash(key: SecretBytes(consuming: &key))
        let mac = h.mac(Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(Hex.encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(h.id(Array("what do ya want for nothing?".utf8)).hex, "5bdcc146bf60754e6a042426089575c7")
    }

    /// RFC 4231 test case 6: a key longer than SHA-256's 64-byte block is hashed first
    /// (truncating it instead gives another MAC), in one piece and streamed in parts alike.
    func testHMACHashesAKeyLongerThanABlockRFC4231() throws {
        var key = [UInt8](repeating: 0xaa, count: 131)
        let h = try KeyedHash(key: SecretBytes(consuming: &key))
        let message = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        let expected = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        XCTAssertEqual(Hex.encode(h.mac(message)), expected)
        let stream = try h.stream()
        message.withUnsafeBytes { m in
            stream.update(UnsafeRawBufferPointer(rebasing: m[0..<10]))
            stream.update(UnsafeRawBufferPointer(rebasing: m[10...]))
        }
        XCTAssertEqual(Hex.encode(stream.finish()), expected)
    }

    /// An OpenSSL call that fails while setting up the MAC is an error, not a key of zeros.
    func testHMACSetUpFailureIsAnError() throws {
        var key = [UInt8](repeating: 1, count: 32)
        XCTAssertThrowsError(try KeyedHash(key: SecretBytes(consuming: &key), digest: nil)) { error in
            XCTAssertEqual((error as? LifeboatError)?.kind, .internalError)
            XCTAssertEqual((error as? LifeboatError)?.message, "cannot set up HMAC-SHA256 (OpenSSL)")
        }
    }

    /// `count` is the secret's length, though the allocation is never empty.
    func testSecretBytesCountIsTheSecretsLength() throws {
        var empty: [UInt8] = []
        let none = SecretBytes(consuming: &empty)
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(none.copyBytes(), [])
        XCTAssertEqual(try SecretBytes.random(count: 0).count, 0)
        XCTAssertThrowsError(try AEADContext(key: none), "an empty secret is no AES-256 key")
        var five: [UInt8] = [1, 2, 3, 4, 5]
        let s = SecretBytes(consuming: &five)
        XCTAssertEqual(five, [], "the caller's copy is wiped")
        XCTAssertEqual(s.count, 5)
        XCTAssertEqual(s.copyBytes(), [1, 2, 3, 4, 5])
        XCTAssertEqual(try KDF.hkdf(s, salt: [], info: "test", count: 48).count, 48)
        XCTAssertEqual(try SecretBytes.random(count: 32).count, 32)
    }

    func testSHA256KnownAnswer() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testAEADRoundTripAndEveryBitFlipIsDetected() throws {
        let key = try SecretBytes.random(count: 32)
        let aead = try AEADContext(key: key)
        let plain = Array("a page of a process database".utf8)
        let sealed = try aead.seal(plain, aad: [1, 2, 3])
        XCTAssertEqual(aead.open(sealed, aad: [1, 2, 3]), plain)
        XCTAssertNil(aead.open(sealed, aad: [1, 2, 4]), "other authenticated data must fail")
        for bit in 0..<(sealed.count * 8) {
            var t = sealed
            t[bit / 8] ^= UInt8(1 << (bit % 8))
            XCTAssertNil(aead.open(t, aad: [1, 2, 3]), "flipped bit \(bit) went undetected")
        }
        XCTAssertNil(try AEADContext(key: SecretBytes.random(count: 32)).open(sealed, aad: [1, 2, 3]), "another key must fail")
    }

    func testNoncesDiffer() throws {
        let aead = try AEADContext(key: try SecretBytes.random(count: 32))
        let a = try aead.seal([1, 2, 3], aad: [])
        let b = try aead.seal([1, 2, 3], aad: [])
        XCTAssertNotEqual(a, b)
    }

    func testScryptKnownAnswerRFC7914() throws {
        var pw = Array("password".utf8)
        let k = try KDF.scrypt(passphrase: SecretBytes(consuming: &pw), salt: Array("NaCl".utf8), parameters: ScryptParameters(n: 1024, r: 8, p: 16))
        // RFC 7914 section 12, first 32 bytes of the 64-byte output.
        XCTAssertEqual(Hex.encode(k.copyBytes()), "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    }

    func testKeyFileUnwrapsOnlyWithItsPassphrase() throws {
        let master = try MasterKeys.generate()
        var good = Array("right".utf8), bad = Array("wrong".utf8), again = Array("right".utf8)
        let file = try KeyFile.create(master: master, passphrase: SecretBytes(consuming: &good), parameters: ScryptParameters(n: 1024, r: 8, p: 1))
        XCTAssertNil(try file.unwrap(passphrase: SecretBytes(consuming: &bad)))
        let opened = try XCTUnwrap(try file.unwrap(passphrase: SecretBytes(consuming: &again)))
        XCTAssertEqual(opened.currentKeys.material.copyBytes(), master.material.copyBytes())
        let decoded = try KeyFile.decode(try file.encoded())
        XCTAssertEqual(decoded.scrypt, ScryptParameters(n: 1024, r: 8, p: 1))
    }

    func testBlobCodecCompressesTextStoresRandomAndDetectsSwaps() throws {
        let keys = try MasterKeys.generate()
        let codec = try BlobCodec(keys: keys)
        let text = Array(String(repeating: "workflow task approved; ", count: 200).utf8)
        let random = try SecureRandom.bytes(4096)
        let idText = codec.hasher.id(text), idRandom = codec.hasher.id(random)
        let sealedText = try codec.seal(text, type: .page, id: idText)
        let sealedRandom = try codec.seal(random, type: .page, id: idRandom)
        XCTAssertLessThan(sealedText.count, text.count / 4, "text must compress")
        XCTAssertLessThanOrEqual(sealedRandom.count, random.count + 1 + AEADContext.overhead)
        XCTAssertEqual(try codec.open(sealedText, type: .page, id: idText, rawLength: text.count), text)
        XCTAssertEqual(try codec.open(sealedRandom, type: .page, id: idRandom, rawLength: random.count), random)
        // A valid blob presented under another id or type is refused.
        XCTAssertThrowsError(try codec.open(sealedText, type: .page, id: idRandom, rawLength: text.count))
        XCTAssertThrowsError(try codec.open(sealedText, type: .tableLeaf, id: idText, rawLength: text.count))
    }
}
