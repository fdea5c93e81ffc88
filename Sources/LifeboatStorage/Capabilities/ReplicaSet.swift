import Foundation
import LifeboatCore

/// The copies a backend writes to and reads from. A plain backend is a set of one, itself;
/// `ReplicatedBackend` fans out to several; a decorator answers for what it wraps. Callers ask
/// this instead of looking for a replicated backend underneath.
public protocol ReplicaSet {
    /// The copies, in the order reads try them (the first is the primary).
    var replicas: [any Backend] { get }
    /// Copies that failed a write in this run, with the first error of each.
    var behind: [(location: String, error: LifeboatError)] { get }
    /// Stops writing to copy `index` of `replicas` for the rest of the run and reports it behind.
    func markBehind(_ index: Int, _ error: LifeboatError)
    /// Reads served by a copy other than the first, for telling the user.
    var fallbackNotes: [String] { get }
    func noteFallback(_ message: String)
}

extension Backend {
    public var replicas: [any Backend] { [self] }
    /// One copy is never behind itself: a failed write fails the run instead.
    public var behind: [(location: String, error: LifeboatError)] { [] }
    public func markBehind(_ index: Int, _ error: LifeboatError) {}
    /// With one copy there is nothing to fall back to, hence nothing to note.
    public var fallbackNotes: [String] { [] }
    public func noteFallback(_ message: String) {}
}
