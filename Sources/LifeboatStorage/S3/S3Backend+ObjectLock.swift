import Foundation
import LifeboatCore

/// S3Backend's side of Object Lock: it lends S3ObjectLock its requests and answers the
/// Object Lock capability of every backend with it.
extension S3Backend: S3Requests {
    public func setObjectLock(_ runtime: ObjectLockRuntime) { lockState.set(runtime) }

    public func objectLockStatus() throws -> [ObjectLockStatus] { try lockStatus() }

    /// Reads served from a version hidden behind a delete marker, for the warning the CLI prints.
    public var readsBehindDeleteMarkers: [String: Int] {
        lockState.hiddenReads > 0 ? [location: lockState.hiddenReads] : [:]
    }
}
