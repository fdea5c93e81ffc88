import XCTest
@testable import LifeboatCore
@testable import LifeboatStorage
@testable import LifeboatRepository
@testable import LifeboatOperations
@testable import LifeboatWorkload
@testable import LifeboatDrill

final class UnitsTests: XCTestCase {
    func testParsesSizesWithBinaryUnits() throws {
        XCTAssertEqual(try Units.parseBytes("4096"), 4096)
        XCTAssertEqual(try Units.parseBytes("8MiB"), 8 << 20)
        XCTAssertEqual(try Units.parseBytes("1GiB"), 1 << 30)
        XCTAssertEqual(try Units.parseBytes("1.5KiB"), 1536)
        XCTAssertEqual(try Units.parseBytes("256mb"), 256 << 20)
        XCTAssertEqual(try Units.parseBytes("4G"), 4 << 30)
        for bad in ["", "MiB", "12XB", "-1MiB", "1..2G"] {
            XCTAssertThrowsError(try Units.parseBytes(bad), bad) { error in
                XCTAssertEqual((error as? LifeboatError)?.kind, .usage)
            }
        }
    }

    func testParsesDurations() throws {
        XCTAssertEqual(try Units.parseDuration("5s"), 5)
        XCTAssertEqual(try Units.parseDuration("500ms"), 0.5)
        XCTAssertEqual(try Units.parseDuration("2m"), 120)
        XCTAssertEqual(try Units.parseDuration("1h30m"), 5400)
        XCTAssertEqual(try Units.parseDuration("2.5"), 2.5)
        for bad in ["", "s", "5x", "-3", "1h-2m"] {
            XCTAssertThrowsError(try Units.parseDuration(bad), bad)
        }
    }

    func testFormatsBytes() {
        XCTAssertEqual(Units.formatBytes(512), "512 B")
        XCTAssertEqual(Units.formatBytes(64 << 20), "64.0 MiB")
        XCTAssertEqual(Units.formatBytes(3 << 29), "1.5 GiB")
    }
}
