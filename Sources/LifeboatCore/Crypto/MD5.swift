import CLibCrypto
import Foundation

/// MD5 only for S3's Content-MD5 header, which S3 demands on PUTs carrying Object Lock
/// retention (an integrity check of the upload, never a security primitive here).
package enum MD5 {
    package static func base64(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 16)
        var len: UInt32 = 0
        bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                _ = EVP_Digest(b.baseAddress, b.count, o.baseAddress, &len, EVP_md5(), nil)
            }
        }
        return Data(out).base64EncodedString()
    }
}
