import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// Runs a command body and turns a LifeboatError into one line on stderr and its exit code.
/// What the failure left behind (Warnings.hold) goes on that line; after a success, it is
/// said as warnings.
func runReporting(_ body: () throws -> Void) throws {
    func fail(_ e: LifeboatError) -> ExitCode {
        let line = ([e.message] + Warnings.takeHeld()).joined(separator: "; ")
        FileHandle.standardError.write(Data("lifeboat: \(line)\n".utf8))
        return ExitCode(e.exitCode)
    }
    do {
        try body()
        for note in Warnings.takeHeld() { Warnings.emit(note) }
    } catch let e as LifeboatError {
        throw fail(e)
    } catch let retained as ObjectRetained {
        throw fail(retained.lifeboatError)
    } catch {
        for note in Warnings.takeHeld() { Warnings.emit(note) }
        throw error
    }
}

enum Output {
    /// The one way a command prints JSON: one line, in the shared style (JSONCoding).
    static func json<T: Encodable>(_ value: T, keys: JSONCoding.Keys = .snakeCase) throws {
        FileHandle.standardOutput.write(Data(try JSONCoding.encode(value, keys: keys) + [0x0a]))
    }

    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    static func bytes(_ n: Int) -> String { Units.formatBytes(n) }

    /// A progress line on a terminal only (never in cron logs or pipes), with rate and ETA.
    static func progress(enabled: Bool, label: String) -> (@Sendable (Int, Int) -> Void)? {
        guard enabled, isatty(STDERR_FILENO) == 1 else { return nil }
        let start = Date()
        // When a line was last printed: a few updates a second are enough.
        let last = Locked(Date.distantPast)
        return { done, total in
            let now = Date()
            let due = last.withLock { t in
                guard now.timeIntervalSince(t) >= 0.2 else { return false }
                t = now
                return true
            }
            guard due || done == total else { return }
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
