import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// Runs a command body and turns a LifeboatError into one line on stderr and its exit code.
func runReporting(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as LifeboatError {
        FileHandle.standardError.write(Data("lifeboat: \(e.message)\n".utf8))
        throw ExitCode(e.exitCode)
    } catch let retained as ObjectRetained {
        let e = retained.lifeboatError
        FileHandle.standardError.write(Data("lifeboat: \(e.message)\n".utf8))
        throw ExitCode(e.exitCode)
    }
}

enum Output {
    /// `keys: .convertToSnakeCase` is for types of the lower floors that name their fields in
    /// camel case and are also encoded elsewhere as they are (the demo's summaries).
    static func json<T: Encodable>(_ value: T, keys: JSONEncoder.KeyEncodingStrategy = .useDefaultKeys) throws {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = keys
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try enc.encode(value)
        data.append(0x0a)
        FileHandle.standardOutput.write(data)
    }

    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    static func bytes(_ n: Int) -> String { Units.formatBytes(n) }

    /// A progress line on a terminal only (never in cron logs or pipes), with rate and ETA.
    static func progress(enabled: Bool, label: String) -> (@Sendable (Int, Int) -> Void)? {
        guard enabled, isatty(STDERR_FILENO) == 1 else { return nil }
        let start = Date()
        let last = LockedTime()
        return { done, total in
            let now = Date()
            guard last.shouldPrint(now) || done == total else { return }
            let elapsed = now.timeIntervalSince(start)
            let pct = total > 0 ? Double(done) * 100 / Double(total) : 100
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let eta = rate > 0 ? Double(total - done) / rate : 0
            let text = String(format: "\r%@ %5.1f%%  %d/%d pages  %.0f pages/s  ETA %.0fs ", label, pct, done, total, rate, eta)
            FileHandle.standardError.write(Data(text.utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
    }
}

/// Throttles progress output to a few updates per second.
final class LockedTime: @unchecked Sendable {
    private var last = Date.distantPast
    private let lock = NSLock()
    func shouldPrint(_ now: Date) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if now.timeIntervalSince(last) < 0.2 { return false }
        last = now
        return true
    }
}
