import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository

/// What replacing damaged objects in one copy did.
public struct ReplaceResult: Codable, Sendable {
    /// Damaged objects deleted and stored again from another copy.
    public var replaced: [String] = []
    /// Missing objects stored from another copy.
    public var copied: [String] = []
    /// Objects no other copy holds intact, with why.
    public var unavailable: [String: String] = [:]
    /// Damaged objects the target refused to delete (no delete right, or Object Lock), with why.
    public var refused: [String: String] = [:]

    public init() {}
}

/// Replaces damaged or missing objects of one copy of a repository with verified ones from
/// other copies: every object is content-addressed, so an intact copy is one whose SHA-256
/// matches its name, and the bytes put back are exactly those first written.
///
/// A missing object is only PUT. A damaged one must be deleted first (backends never
/// overwrite): that takes delete rights, which only the prune role has (see IAMPolicy). Killed
/// between the delete and the PUT, the object is missing rather than damaged, and a re-run puts it.
public enum ObjectReplacer {
    public static func replace(_ keys: [ObjectKey], in target: any Backend, from copies: [any Backend],
                               progress: (@Sendable (String) -> Void)? = nil) -> ReplaceResult {
        var result = ReplaceResult()
        for key in keys {
            var bytes: [UInt8]?
            var why: [String] = []
            for copy in copies {
                do {
                    let data = try copy.get(key)
                    if SHA256.hex(data) == key.contentDigest { bytes = data; break }
                    why.append("damaged in \(copy.location) too")
                } catch let e as LifeboatError {
                    why.append(e.kind == .notFound ? "missing in \(copy.location)" : "\(copy.location): \(e.message)")
                } catch {
                    why.append("\(copy.location): \(error)")
                }
            }
            guard let bytes else {
                result.unavailable[key.path] = why.isEmpty ? "no other copy given" : why.joined(separator: "; ")
                continue
            }
            do {
                let present = try target.stat(key) != nil
                if present { try target.delete(key) }
                do { try target.put(key, bytes) } catch let e as LifeboatError where e.kind == .exists {}
                if present { result.replaced.append(key.path) } else { result.copied.append(key.path) }
                progress?("\(present ? "replaced" : "copied") \(key.path)")
            } catch let e as ObjectRetained {
                result.refused[key.path] = e.lifeboatError.message
            } catch let e as LifeboatError {
                let rights = e.kind == .auth ? " (replacing a damaged object deletes it first: use the prune role's credentials, see 'lifeboat iam-policy --role prune')" : ""
                result.refused[key.path] = e.message + rights
            } catch {
                result.refused[key.path] = "\(error)"
            }
        }
        return result
    }
}
