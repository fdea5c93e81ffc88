import Dispatch
import Foundation

/// Runs `cleanup` and exits (130 for SIGINT, 143 for SIGTERM) when the process is interrupted,
/// until the returned sources are cancelled. For commands that leave large files behind when
/// killed (a restore's temporary copy of the database).
func exitOnInterrupt(_ cleanup: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            cleanup()
            _exit(128 + sig)
        }
        source.resume()
        return source
    }
}
