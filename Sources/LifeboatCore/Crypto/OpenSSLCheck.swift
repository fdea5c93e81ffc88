/// For OpenSSL calls on a context already set up, which fail only when OpenSSL cannot allocate
/// or the context is corrupted: Swift stops on exhausted memory itself, and going on would hand
/// out a wrong digest (a wrong object name or blob id) that silently breaks verification and
/// dedup. Setting a context up throws a LifeboatError instead, where a caller can report it.
@inline(__always)
func requireOpenSSL(_ returnCode: Int32, _ call: StaticString) {
    precondition(returnCode == 1, "OpenSSL \(call) failed on a working context: out of memory or memory corruption")
}
