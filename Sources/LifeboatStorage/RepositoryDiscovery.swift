import Foundation
import LifeboatCore

/// What one level of a location holds: whether a repository lives right there (its `config`
/// object), and the names of the folders (S3: common prefixes) directly below it.
package struct LocationLevel: Sendable, Equatable {
    package var holdsRepository: Bool
    package var children: [String]

    package init(holdsRepository: Bool, children: [String]) {
        self.holdsRepository = holdsRepository
        self.children = children
    }
}

/// A backend that can say what lies one level below its location without reading any object:
/// one directory listing, or one S3 LIST with a delimiter per thousand names.
package protocol LocationListing {
    func listLevel() throws -> LocationLevel
}

/// One place found under a fleet location: a repository, or a place that could not be listed.
public struct DiscoveredLocation: Sendable {
    public let location: String
    /// Why this place could not be looked into (nil: it holds a repository).
    public let problem: LifeboatError?

    public init(location: String, problem: LifeboatError?) {
        self.location = location
        self.problem = problem
    }
}

/// Finds the repositories at or below a location: the location itself when it holds one,
/// else every folder (or S3 prefix) below it that does, down to `depth` levels (one prefix
/// per host, or per host and then per application). Only LIST requests (and directory
/// listings): the restore role's rights, or less, suffice. A repository's own folders
/// (`data/`, `snapshots/`…) are never descended into.
public enum RepositoryDiscovery {
    public static func find(under location: String, options: BackendOptions, depth: Int = 2, workers: Int = 4) -> [DiscoveredLocation] {
        let found = Locked<[DiscoveredLocation]>([])
        var top = location
        while top.count > 1 && top.hasSuffix("/") { top.removeLast() }
        var pending = [top]
        for level in 0...max(0, depth) {
            let current = pending
            let next = Locked<[String]>([])
            // Each item catches its own failure: nothing thrown reaches Parallel.
            try? Parallel.forEach(count: current.count, workers: max(1, workers)) { _, i in
                let here = current[i]
                do {
                    let backend = try openBackend(location: here, options: options)
                    guard let listing = backend as? any LocationListing else {
                        if try backend.exists(.config) { found.withLock { $0.append(DiscoveredLocation(location: here, problem: nil)) } }
                        return
                    }
                    let l = try listing.listLevel()
                    if l.holdsRepository {
                        found.withLock { $0.append(DiscoveredLocation(location: here, problem: nil)) }
                    } else if level < depth {
                        next.withLock { $0 += l.children.sorted().map { here + "/" + $0 } }
                    }
                } catch let e as LifeboatError {
                    found.withLock { $0.append(DiscoveredLocation(location: here, problem: e)) }
                } catch {
                    found.withLock { $0.append(DiscoveredLocation(location: here, problem: LifeboatError(.io, "cannot list \(here): \(error)"))) }
                }
            }
            pending = next.current
            if pending.isEmpty { break }
        }
        return found.current.sorted { $0.location < $1.location }
    }
}

extension LocalBackend: LocationListing {
    package func listLevel() throws -> LocationLevel {
        guard let st = try FileIO.status(root) else {
            throw LifeboatError(.notFound, "\(root) does not exist; check the location given to 'lifeboat status --all'")
        }
        guard st.isDirectory else { throw LifeboatError(.usage, "\(root) is not a directory; give the directory that holds the repositories") }
        if try stat(.config) != nil { return LocationLevel(holdsRepository: true, children: []) }
        var children: [String] = []
        for name in try FileIO.listDirectory(root) where !name.hasPrefix(".") {
            if let s = try FileIO.status(root + "/" + name), s.isDirectory { children.append(name) }
        }
        return LocationLevel(holdsRepository: false, children: children)
    }
}
