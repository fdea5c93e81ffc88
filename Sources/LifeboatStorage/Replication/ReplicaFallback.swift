import Foundation
import LifeboatCore

/// One copy that did not give a good answer, on the way to one that did (or to none).
public struct ReplicaFailure: Sendable {
    public let location: String
    public let error: any Error
    /// The copy answered, but `validate` refused what it sent: its object is damaged.
    public let refused: Bool

    /// "missing in X", "damaged in X" or "X: what went wrong", for notes and messages.
    public var summary: String {
        if refused { return "damaged in \(location)" }
        guard let e = error as? LifeboatError else { return "\(location): \(error)" }
        return e.kind == .notFound ? "missing in \(location)" : "\(location): \(e.message)"
    }
}

extension Backend {
    /// Replica fallback, the one place it is written: reads from each copy in `replicas` in
    /// turn and returns the first answer `validate` accepts (it throws to refuse one, say bytes
    /// that fail authentication). A failure moves on to the next copy when `fallsBack` allows;
    /// otherwise it is thrown at once. An answer from a copy other than the first is recorded
    /// with `noteFallback(note(location, failures))`; when no copy answers, `exhausted` says
    /// what to throw (by default the first copy's error, so one copy fails as it always did).
    public func firstGood<Raw, Value>(
        _ read: (_ copy: any Backend) throws -> Raw,
        validate: (Raw) throws -> Value,
        fallsBack: (any Error) -> Bool = { _ in true },
        note: (_ location: String, _ failures: [ReplicaFailure]) -> String,
        exhausted: ([ReplicaFailure]) -> any Error = { $0.first?.error ?? LifeboatError(.notFound, "no copy of the repository to read from") }
    ) throws -> Value {
        var failures: [ReplicaFailure] = []
        for copy in replicas {
            var refused = false
            do {
                let raw = try read(copy)
                refused = true
                let value = try validate(raw)
                if !failures.isEmpty { noteFallback(note(copy.location, failures)) }
                return value
            } catch where fallsBack(error) {
                failures.append(ReplicaFailure(location: copy.location, error: error, refused: refused))
            }
        }
        throw exhausted(failures)
    }

    /// `firstGood` for a read that checks its own answer (restore decodes a range where it
    /// was read, so reading and authenticating are one step).
    public func firstGood<Value>(
        _ attempt: (_ copy: any Backend) throws -> Value,
        fallsBack: (any Error) -> Bool = { _ in true },
        note: (_ location: String, _ failures: [ReplicaFailure]) -> String,
        exhausted: ([ReplicaFailure]) -> any Error = { $0.first?.error ?? LifeboatError(.notFound, "no copy of the repository to read from") }
    ) throws -> Value {
        try firstGood(attempt, validate: { $0 }, fallsBack: fallsBack, note: note, exhausted: exhausted)
    }
}
