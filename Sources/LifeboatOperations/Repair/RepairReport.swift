import Foundation
import LifeboatCore

/// What `lifeboat repair` found and did, and exactly what stays damaged.
public struct RepairReport: Codable, Sendable {
    /// A snapshot some of whose pages are nowhere any more (or whose page table or manifest
    /// cannot be read at all).
    public struct DamagedSnapshot: Codable, Sendable {
        public var id: String
        public var source: String?
        public var time: String?
        /// Page numbers (1-based, as SQLite counts) as ranges: "3-17,40".
        public var pages: String?
        public var pageCount: Int
        /// Why the snapshot cannot be read at all, when it cannot.
        public var problem: String?

        package enum CodingKeys: String, CodingKey {
            case id, source, time, pages, problem
            case pageCount = "page_count"
        }
    }

    public var location: String
    /// Objects `check` found damaged or missing when the repair began (paths).
    public var damagedObjects: [String]
    /// What replacing them from other copies did (nil: no other copy given).
    public var fromCopies: ReplaceResult?
    /// Blobs that lived only in damaged packs and still authenticated: copied, still sealed, into new packs.
    public var salvagedBlobs: Int
    /// Pages found in each live database and stored again.
    public var fromDatabases: [String: Int]
    /// Databases that could not be read, with why.
    public var databaseErrors: [String: String]
    public var packsWritten: Int
    public var bytesAdded: Int
    public var stillDamaged: [DamagedSnapshot]
    public var ok: Bool
    public var seconds: Double

    package enum CodingKeys: String, CodingKey {
        case location, ok, seconds
        case damagedObjects = "damaged_objects"
        case fromCopies = "from_copies"
        case salvagedBlobs = "salvaged_blobs"
        case fromDatabases = "from_databases"
        case databaseErrors = "database_errors"
        case packsWritten = "packs_written"
        case bytesAdded = "bytes_added"
        case stillDamaged = "still_damaged"
    }

    /// 0-based page numbers as 1-based ranges: [2,3,4,9] → "3-5,10".
    package static func ranges(_ pages: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let sorted = pages.sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i] + 1)" : "\(sorted[i] + 1)-\(sorted[j] + 1)")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
