import Foundation
import LifeboatCore

/// Creates a realistic BPM process database of a requested size: requests with JSON form data,
/// their tasks, comments and attachments, with the indexes an engine keeps. By bytes about 1/2
/// text, 1/4 JSON and 1/4 incompressible attachments, like the measured anchor in the brief.
/// The same options give the same file, byte for byte.
public struct ProcessDatabaseGenerator: Sendable {
    public struct Options: Sendable {
        /// Size of the database file to reach (within a few pages for large sizes, ±10 % for tiny ones).
        public var targetBytes: Int
        public var seed: UInt64
        public var journalMode: JournalMode
        /// Strings planted in plaintext (request JSON and a comment each), so tests can prove
        /// a repository holding this database does not reveal them. Printable ASCII, no quotes.
        public var markers: [String]
        /// Replace an existing file instead of refusing.
        public var overwrite: Bool

        public init(targetBytes: Int, seed: UInt64 = 1, journalMode: JournalMode = .wal,
                    markers: [String] = [], overwrite: Bool = false) {
            self.targetBytes = targetBytes
            self.seed = seed
            self.journalMode = journalMode
            self.markers = markers
            self.overwrite = overwrite
        }
    }

    public struct Summary: Sendable, Codable, Equatable {
        public var path: String
        public var fileBytes: Int
        public var pageSize: Int
        public var pages: Int
        public var requests: Int
        public var tasks: Int
        public var comments: Int
        public var attachments: Int
        /// Payload bytes by kind (column values, not counting SQLite's own overhead).
        public var textBytes: Int
        public var jsonBytes: Int
        public var blobBytes: Int
        public var seconds: Double
    }

    public static let pageSize = 4096
    /// Average on-disk bytes per request with its tasks, comments and attachments; only used to
    /// spread creation times over the history before the real count is known.
    package static let estimatedBytesPerRequest = 5200

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    @discardableResult
    public func generate(at path: String) throws -> Summary {
        guard options.targetBytes >= 64 * 1024 else {
            throw LifeboatError(.usage, "database size must be at least 64KiB (asked for \(options.targetBytes) bytes)")
        }
        for marker in options.markers where marker.isEmpty || !marker.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }) {
            throw LifeboatError(.usage, "marker '\(marker)' must be non-empty printable ASCII without quotes or backslashes")
        }
        if FileIO.fileExists(path) {
            guard options.overwrite else {
                throw LifeboatError(.exists, "\(path) already exists; remove it or choose another path")
            }
        }
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }

        let started = Date()
        do {
            var summary = try fill(path: path)
            summary.seconds = Date().timeIntervalSince(started)
            return summary
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
            throw error
        }
    }

    private func fill(path: String) throws -> Summary {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        // Bulk load without a journal: a failed generation deletes the file anyway, and writing
        // every page twice (journal or WAL, then the file) would halve the speed.
        try db.execute("""
            PRAGMA page_size = \(Self.pageSize);
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -65536;
            PRAGMA temp_store = MEMORY;
            """)
        try db.execute(ProcessSchema.createStatements)

        let writer = try ProcessRowWriter(db: db)
        let pageCount = try db.prepare("PRAGMA page_count")
        var rng = SeededGenerator(seed: options.seed)
        var counts = ProcessRowWriter.Counts()
        let expectedRequests = max(1, options.targetBytes / Self.estimatedBytesPerRequest)
        let spacing = max(1, ProcessSchema.historyMilliseconds / Int64(expectedRequests))
        // Check the size often enough that tiny databases land close to the target.
        let checkEvery = max(1, min(256, options.targetBytes / Self.pageSize / 200))
        let targetPages = options.targetBytes / Self.pageSize

        try db.execute("BEGIN")
        var requestID: Int64 = 0
        while true {
            requestID += 1
            let marker = Int(requestID) <= options.markers.count ? options.markers[Int(requestID) - 1] : nil
            let createdAt = ProcessSchema.epochMilliseconds + requestID * spacing + Int64(rng.below(Int(spacing)))
            // The newest tenth of the history is still running; older requests are closed.
            let isOpen = requestID > Int64(expectedRequests) * 9 / 10
            try writer.insertFullRequest(id: requestID, createdAt: createdAt, isOpen: isOpen, marker: marker,
                                         counts: &counts, &rng)
            if requestID % Int64(checkEvery) == 0 {
                guard try pageCount.step() else { throw LifeboatError(.database, "PRAGMA page_count returned nothing on \(path)") }
                let pages = Int(pageCount.int64(0))
                pageCount.rewind()
                if pages >= targetPages && requestID >= Int64(options.markers.count) { break }
            }
            // Commit now and then so the page cache spills into the file, not into memory.
            if requestID % 2048 == 0 {
                try db.execute("COMMIT; BEGIN")
            }
        }
        try db.execute("COMMIT")
        let mode = try db.scalar("PRAGMA journal_mode = \(options.journalMode.pragmaValue)")?.text?.lowercased()
        guard mode == options.journalMode.rawValue else {
            throw LifeboatError(.database, "could not switch \(path) to journal mode \(options.journalMode.rawValue) (got \(mode ?? "nothing"))")
        }
        let pages = Int(try db.scalar("PRAGMA page_count")?.integer ?? 0)
        return Summary(path: path, fileBytes: try FileIO.status(path)?.size ?? 0, pageSize: Self.pageSize, pages: pages,
                       requests: counts.requests, tasks: counts.tasks, comments: counts.comments, attachments: counts.attachments,
                       textBytes: counts.textBytes, jsonBytes: counts.jsonBytes, blobBytes: counts.blobBytes, seconds: 0)
    }
}
