import CLibCrypto
import Foundation

/// MD5 only for S3's Content-MD5 header, which S3 demands on PUTs carrying Object Lock
/// retention (an integrity check of the upload, never a security primitive here).
package enum MD5 {
    package static func base64(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 16)
        var len: UInt32 = 0
        let rc = bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(b.baseAddress, b.count, o.baseAddress, &len, EVP_md5(), nil)
            }
        }
        // Besides memory trouble, only an OpenSSL without MD5 (FIPS mode) fails here; a wrong
        // header would only earn an obscure refusal from S3, so stop with the cause instead.
        precondition(rc == 1, "OpenSSL cannot compute MD5 (FIPS mode?), which S3 Object Lock uploads need for Content-MD5")
        return Data(out).base64EncodedString()
    }
}
