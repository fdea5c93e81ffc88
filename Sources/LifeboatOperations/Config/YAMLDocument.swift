import Foundation
import Yams
import LifeboatCore

/// A YAML file read with Yams, for the config file and drill scenarios alike. Every error is
/// one line naming the file and line, and none quotes the offending text: a line refused
/// because it looks like a secret must not end up in a cron mail.
package struct YAMLDocument {
    package let path: String
    /// nil for a file with no content.
    package let root: Node?

    package init(_ text: String, path: String) throws {
        self.path = path
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw Self.syntaxError(e, text: text, path: path)
        }
    }

    package static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    package func error(_ node: Node, _ problem: String) -> LifeboatError {
        error(line: Self.line(node), problem)
    }

    package func error(line: Int, _ problem: String) -> LifeboatError {
        LifeboatError(.usage, "\(path) line \(line): \(problem)")
    }

    /// A mapping's entries in file order. A repeated key is refused: YAML parsers keep both
    /// copies, and which one wins would be a guess.
    package func entries(_ mapping: Node.Mapping) throws -> [(key: String, keyNode: Node, value: Node)] {
        var seen: [String: Int] = [:]
        return try mapping.map { pair in
            guard let k = pair.key.scalar?.string else { throw error(pair.key, "a key must be a plain word, not a list or a mapping") }
            if let first = seen[k] { throw error(pair.key, "'\(k)' is set twice (first at line \(first))") }
            seen[k] = Self.line(pair.key)
            return (k, pair.key, pair.value)
        }
    }

    /// "unknown key 'rpoo' in targets (did you mean 'rpo'?); expected one of: …"
    package func unknownKey(_ keyNode: Node, _ key: String, in context: String, known: [String], noun: String = "key") -> LifeboatError {
        let hint = Self.closest(key, known).map { " (did you mean '\($0)'?)" } ?? ""
        return error(keyNode, "unknown \(noun) '\(key)' in \(context)\(hint); expected one of: \(known.joined(separator: ", "))")
    }

    /// The known word a typo most likely meant: the same but for case and '-', or at most two
    /// letters off.
    package static func closest(_ key: String, _ options: [String]) -> String? {
        let k = key.lowercased().replacingOccurrences(of: "-", with: "_")
        if let same = options.first(where: { $0 == k }) { return same }
        let scored = options.map { ($0, editDistance(Array(k), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    package static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return previous[b.count]
    }

    /// libyaml's problem with its position, and a hint for the mistakes people make. Yams' own
    /// descriptions quote the offending line, so they are not used.
    package static func syntaxError(_ e: YamlError, text: String, path: String) -> LifeboatError {
        // A tab in the indentation is the usual cause, and libyaml's words for it do not say so.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if let n = lines.firstIndex(where: { $0.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") }) {
            return LifeboatError(.usage, "\(path) line \(n + 1): YAML syntax error: tab used for indentation; indent with spaces")
        }
        let context: YamlError.Context?, problem: String, mark: Mark
        switch e {
        case .scanner(let c, let p, let m, _), .parser(let c, let p, let m, _), .composer(let c, let p, let m, _):
            (context, problem, mark) = (c, p, m)
        case .reader(let problem, _, _, _):
            return LifeboatError(.usage, "\(path): cannot be read as YAML: \(problem)")
        default:
            return LifeboatError(.usage, "\(path): cannot be read as YAML")
        }
        // What was never closed is named where it was opened, not where the file ended.
        let at = problem.contains("end of stream") ? context?.mark ?? mark : mark
        var hint = ""
        if context?.text.contains("quoted scalar") == true && problem.contains("end of stream") {
            hint = "; a quoted value is not closed (missing quote)"
        } else if problem.contains("expected ',' or") {
            hint = "; a { … } or [ … ] is not closed"
        } else if problem.contains("mapping values are not allowed") || problem.contains("did not find expected") {
            hint = "; check the indentation of this line and the one above, and quote values that hold ': '"
        }
        return LifeboatError(.usage, "\(path) line \(at.line): YAML syntax error at column \(at.column): \(problem)\(hint)")
    }
}
