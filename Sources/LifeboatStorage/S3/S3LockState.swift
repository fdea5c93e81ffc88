import Foundation
import LifeboatCore

/// What one S3 backend keeps for its Object Lock and versioned reads, shared by the copies of
/// the (value type) backend: the policy for new objects, whether the bucket keeps versions
/// (asked once, lazily), and which objects had to be read from behind a delete marker.
package final class S3LockState: Sendable {
    private struct State {
        package var runtime = ObjectLockRuntime()
        package var versioned: Bool?
        package var hiddenReads = Set<String>()
    }
    private let state = Locked(State())

    package var runtime: ObjectLockRuntime { state.current.runtime }
    package func set(_ runtime: ObjectLockRuntime) { state.withLock { $0.runtime = runtime } }
    package var versioned: Bool? { state.current.versioned }
    package func setVersioned(_ v: Bool) { state.withLock { $0.versioned = v } }
    package func noteHiddenRead(_ key: ObjectKey) { state.withLock { _ = $0.hiddenReads.insert(key.path) } }
    package var hiddenReads: Int { state.current.hiddenReads.count }
}
