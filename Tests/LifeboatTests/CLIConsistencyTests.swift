import Foundation
import XCTest
@testable import LifeboatCore

/// README: "Every command takes `--json` and `--quiet`". The commands are found from the help
/// text itself, so a command added later is held to it without touching this test.
final class CLIConsistencyTests: XCTestCase {
    /// The names under SUBCOMMANDS in `lifeboat [path…] --help`.
    func subcommands(of path: [String], env: [String: String]) throws -> [String] {
        let r = try CLI.run(path + ["--help"], env: env)
        XCTAssertEqual(r.status, 0, "\(path) --help: \(r.stderr)")
        var names: [String] = []
        var inSection = false
        for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") { inSection = true; continue }
            guard inSection else { continue }
            if !line.isEmpty && !line.hasPrefix(" ") { break }
            // "  name   abstract…"; wrapped abstracts are indented much further.
            guard line.hasPrefix("  "), !line.hasPrefix("   "),
                  let name = line.dropFirst(2).split(separator: " ").first,
                  name.allSatisfy({ $0.isLowercase || $0 == "-" }) else { continue }
            names.append(String(name))
        }
        return names
    }

    /// Every command that runs something (not a group of subcommands), as its argument path.
    func leafCommands(env: [String: String]) throws -> [[String]] {
        var leaves: [[String]] = []
        var pending: [[String]] = try subcommands(of: [], env: env).map { [$0] }
        while let path = pending.popLast() {
            let children = try subcommands(of: path, env: env)
            if children.isEmpty { leaves.append(path) } else { pending += children.map { path + [$0] } }
        }
        return leaves.sorted { $0.joined(separator: " ") < $1.joined(separator: " ") }
    }

    /// An environment with no repository, config or report directory to act on: commands
    /// that get past parsing stop at once with a usage error.
    func bareEnv(_ sb: Sandbox) -> [String: String] {
        var e = sb.env()
        e["LIFEBOAT_REPOSITORY"] = nil
        e["LIFEBOAT_DRILL_REPORTS"] = sb.path("drill-reports")
        return e
    }

    func testEveryCommandTakesJSONAndQuiet() throws {
        let sb = try Sandbox()
        let env = bareEnv(sb)
        let leaves = try leafCommands(env: env)
        let names = Set(leaves.map { $0.joined(separator: " ") })
        // The discovery itself must work, or the loop below proves nothing.
        for expected in ["snapshot", "restore", "demo generate", "demo diff-pages", "iam-policy", "key rotate", "drill history", "audit verify"] {
            XCTAssertTrue(names.contains(expected), "'\(expected)' not found among \(names.sorted())")
        }
        XCTAssertGreaterThanOrEqual(leaves.count, 25)

        for path in leaves {
            let name = path.joined(separator: " ")
            let help = try CLI.run(path + ["--help"], env: env)
            XCTAssertEqual(help.status, 0, name)
            XCTAssertTrue(help.stdout.contains("  --json "), "'lifeboat \(name) --help' lists no --json")
            XCTAssertTrue(help.stdout.contains("-q, --quiet"), "'lifeboat \(name) --help' lists no -q, --quiet")
            // Accepted, not only listed: the parser may complain about anything else (a missing
            // argument, no repository), never about these two flags.
            let r = try CLI.run(path + ["--json", "--quiet"], env: env)
            XCTAssertFalse(r.stderr.contains("Unknown option"), "lifeboat \(name) --json --quiet: \(r.stderr)")
        }
        // The check above can fail: an unknown flag is reported with those words.
        let bogus = try CLI.run(["snapshot", "--no-such-flag"], env: env)
        XCTAssertEqual(bogus.status, 64)
        XCTAssertTrue(bogus.stderr.contains("Unknown option"), bogus.stderr)
    }

    func testDemoPrintsJSONWithSnakeCaseKeysOrNothing() throws {
        let sb = try Sandbox()
        let db = sb.path("process.db")
        let generated = try sb.lifeboat("demo", "generate", db, "--size", "1MiB", "--json")
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let summary = try generated.json()
        XCTAssertEqual(summary["page_size"] as? Int, 4096, "Scripts/bench reads these keys: \(summary.keys.sorted())")
        XCTAssertNotNil(summary["file_bytes"] as? Int)
        XCTAssertEqual(summary["path"] as? String, db, "paths are printed unescaped")

        let mutated = try sb.lifeboat("demo", "mutate", db, "--percent", "5", "--quiet")
        XCTAssertEqual(mutated.status, 0, mutated.stderr)
        XCTAssertEqual(mutated.stdout, "")
        XCTAssertEqual(mutated.stderr, "")

        let diff = try sb.lifeboat("demo", "diff-pages", db, db, "--json")
        XCTAssertEqual(try diff.json()["changed_pages"] as? Int, 0)

        // Errors are one line with lifeboat's prefix and the error's exit code, also in demo.
        let missing = try sb.lifeboat("demo", "mutate", sb.path("absent.db"), "--quiet")
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.hasPrefix("lifeboat: "), missing.stderr)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
    }

    func testIAMPolicyJSONIsOneLineAndQuietStillValidates() throws {
        let sb = try Sandbox()
        let json = try sb.lifeboat("iam-policy", "--role", "backup", "--bucket", "bpm-backups", "--json")
        XCTAssertEqual(json.status, 0, json.stderr)
        XCTAssertEqual(json.stdout.split(separator: "\n").count, 1, "--json prints one JSON document on one line")
        XCTAssertEqual(try json.json()["Version"] as? String, "2012-10-17")
        let text = try sb.lifeboat("iam-policy", "--role", "backup", "--bucket", "bpm-backups")
        XCTAssertGreaterThan(text.stdout.split(separator: "\n").count, 10, "without --json the policy is indented for people")

        let quiet = try sb.lifeboat("iam-policy", "--role", "backup", "--bucket", "bpm-backups", "--quiet")
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(quiet.stdout, "")
        let bad = try sb.lifeboat("iam-policy", "--role", "backup", "--bucket", "Bad_Bucket", "--quiet")
        XCTAssertEqual(bad.status, 64, "--quiet does not skip validation")
    }
}
