import Foundation
import XCTest
@testable import LifeboatCore

final class Ed25519Tests: XCTestCase {
    /// RFC 8032 section 7.1, test 1 (empty message), and a changed message or key fails.
    func testRFC8032VectorAndRejections() throws {
        var seed = try XCTUnwrap(Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        let key = SecretBytes(consuming: &seed)
        let pub = try Ed25519.publicKey(seed: key)
        XCTAssertEqual(Hex.encode(pub), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = try Ed25519.sign([], seed: key)
        XCTAssertEqual(Hex.encode(sig), "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        XCTAssertTrue(Ed25519.verify(sig, of: [], publicKey: pub))
        XCTAssertFalse(Ed25519.verify(sig, of: [0], publicKey: pub))
        let other = try Ed25519.publicKey(seed: try Ed25519.generateSeed())
        XCTAssertFalse(Ed25519.verify(sig, of: [], publicKey: other))
        var flipped = sig
        flipped[0] ^= 1
        XCTAssertFalse(Ed25519.verify(flipped, of: [], publicKey: pub))
    }
}
