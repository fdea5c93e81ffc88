import Foundation
import LifeboatCore

/// Ed25519 signatures of drill reports: `report.json.sig` holds the signer's public key and
/// the signature of report.json's exact bytes, so an auditor holding the public key can check a
/// report wherever it was found (`lifeboat drill verify-report`). Key files are hex, one line;
/// the private one must be readable by its owner only.
public enum DrillSigning {
    public static let signatureFile = "report.json.sig"

    /// Writes a new key pair (the private key with mode 0600, never over an existing file);
    /// returns the public key in hex.
    @discardableResult
    public static func generate(privateKeyPath: String, publicKeyPath: String) throws -> String {
        let seed = try Ed25519.generateSeed()
        let pub = Hex.encode(try Ed25519.publicKey(seed: seed))
        try write(privateKeyPath, seed.withUnsafeBytes { Hex.encode(Array($0)) } + "\n", mode: 0o600)
        try write(publicKeyPath, pub + "\n", mode: 0o644)
        return pub
    }

    public static func loadPrivateKey(_ path: String) throws -> SecretBytes {
        guard let st = try FileIO.status(path) else {
            throw LifeboatError(.notFound, "signing key \(path) does not exist; make one with 'lifeboat drill keygen'")
        }
        if st.mode & 0o077 != 0 {
            throw LifeboatError(.usage, "signing key \(path) is readable by others; run chmod 600 \(path)")
        }
        var bytes = Hex.decode(String(decoding: try FileIO.readFile(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? []
        guard bytes.count == Ed25519.seedSize else {
            throw LifeboatError(.usage, "\(path) is not a drill signing key (expected \(Ed25519.seedSize * 2) hex digits)")
        }
        return SecretBytes(consuming: &bytes)
    }

    public static func loadPublicKey(_ path: String) throws -> [UInt8] {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let key = Hex.decode(text), key.count == Ed25519.publicKeySize else {
            throw LifeboatError(.usage, "\(path) is not a drill public key (expected \(Ed25519.publicKeySize * 2) hex digits)")
        }
        return key
    }

    /// The signature file's content for these report bytes.
    public static func signatureFileContent(_ report: [UInt8], key: SecretBytes) throws -> [UInt8] {
        let pub = try Ed25519.publicKey(seed: key)
        return Array("ed25519 \(Hex.encode(pub)) \(Hex.encode(try Ed25519.sign(report, seed: key)))\n".utf8)
    }

    /// Nil when the report at `reportPath` carries a valid signature by `publicKey`; otherwise why not.
    public static func problem(reportPath: String, publicKey: [UInt8]) throws -> String? {
        let sigPath = (reportPath as NSString).deletingLastPathComponent + "/" + signatureFile
        guard FileIO.fileExists(sigPath) else { return "\(sigPath) does not exist: the report was not signed" }
        let parts = String(decoding: try FileIO.readFile(sigPath), as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init)
        guard parts.count == 3, parts[0] == "ed25519", let signer = Hex.decode(parts[1]), let signature = Hex.decode(parts[2]) else {
            return "\(sigPath) is not a drill report signature"
        }
        if signer != publicKey { return "the report was signed by another key (\(parts[1].prefix(16))…), not by the one given" }
        return Ed25519.verify(signature, of: try FileIO.readFile(reportPath), publicKey: publicKey)
            ? nil : "the signature does not match report.json: the report was changed after it was signed"
    }

    private static func write(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LifeboatError.posix(errno, "cannot create key file", path: path) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, Array(text.utf8), path: path)
        if fsync(fd) != 0 { throw LifeboatError.posix(errno, "cannot sync key file", path: path) }
    }
}
