import Foundation
import LifeboatCore

/// Each table's row count and a SHA-256 of its content: taken from the source inside the
/// snapshot's own read transaction, compared with the restored copy, it proves the right data
/// came back (not merely a database that passes integrity_check). Only table names and hashes
/// reach the report, never content.
package struct DrillTableDigest: Sendable, Equatable, Codable {
    package var table: String
    package var rows: Int
    package var sha256: String
}

package enum DrillTables {
    package static func digest(_ db: SQLiteConnection) throws -> [DrillTableDigest] {
        let names = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .compactMap { $0.first?.text }
        return try names.map { name in
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let columns = try db.query("SELECT count(*) FROM pragma_table_info(?)", [.text(name)]).first?.first?.integer ?? 0
            // Ordered by every column, so the hash does not depend on the physical row order.
            let order = columns > 0 ? " ORDER BY " + (1...Int(columns)).map(String.init).joined(separator: ", ") : ""
            let rows = try db.prepare("SELECT * FROM \(quoted)\(order)")
            let hash = try SHA256Stream()
            var count = 0
            while try rows.step() {
                count += 1
                for c in 0..<rows.columnCount { feed(rows.value(c), hash) }
            }
            return DrillTableDigest(table: name, rows: count, sha256: Hex.encode(hash.finish()))
        }
    }

    /// Type tag and length before each value, so ("ab", "c") and ("a", "bc") differ.
    private static func feed(_ value: SQLiteValue, _ hash: SHA256Stream) {
        func tagged(_ tag: UInt8, _ bytes: [UInt8]) {
            var n = UInt64(bytes.count).littleEndian
            hash.update([tag])
            withUnsafeBytes(of: &n) { hash.update($0) }
            hash.update(bytes)
        }
        switch value {
        case .null: tagged(0, [])
        case .integer(let i): tagged(1, withUnsafeBytes(of: i.littleEndian) { Array($0) })
        case .real(let d): tagged(2, withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) })
        case .text(let s): tagged(3, Array(s.utf8))
        case .blob(let b): tagged(4, b)
        }
    }

    /// One line per table that differs; empty when the restored copy holds the same data.
    package static func differences(expected: [DrillTableDigest], actual: [DrillTableDigest]) -> [String] {
        var out: [String] = []
        let have = Dictionary(actual.map { ($0.table, $0) }, uniquingKeysWith: { a, _ in a })
        for e in expected {
            guard let a = have[e.table] else { out.append("\(e.table): missing"); continue }
            if a.rows != e.rows { out.append("\(e.table): \(a.rows) rows, expected \(e.rows)") } else if a.sha256 != e.sha256 { out.append("\(e.table): same \(a.rows) rows, different content") }
        }
        let known = Set(expected.map(\.table))
        for a in actual where !known.contains(a.table) { out.append("\(a.table): not in the source") }
        return out
    }
}
