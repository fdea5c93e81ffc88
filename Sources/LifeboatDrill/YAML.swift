import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload

/// A parsed YAML node with the line it starts on, so scenario errors can name the line.
public struct YAMLNode: Sendable {
    public indirect enum Value: Sendable {
        case scalar(String, quoted: Bool)
        case mapping([(key: String, line: Int, value: YAMLNode)])
        case sequence([YAMLNode])
    }

    public let value: Value
    public let line: Int

    public var kindName: String {
        switch value {
        case .scalar: return "a value"
        case .mapping: return "a mapping (key: value lines)"
        case .sequence: return "a list (- item lines)"
        }
    }
}

public struct YAMLError: Error, Sendable {
    public let line: Int
    public let message: String
}

/// The subset of YAML that scenario files need, with errors that name the line: block mappings
/// and lists by indentation, `|` and `>` block text, one-line `{…}` and `[…]`, plain, 'single'
/// and "double" quoted scalars, `#` comments. Anchors, tags and multi-document files are refused
/// rather than half-supported. (No YAML library is a dependency; this keeps errors precise.)
public enum YAML {
    public static func parse(_ text: String) throws -> YAMLNode {
        var parser = Parser(text: text)
        return try parser.document()
    }

    package struct Line {
        package let number: Int
        package let indent: Int
        package var content: String   // comment stripped, trailing spaces trimmed
        package let raw: String
    }

    package struct Parser {
        package var lines: [Line] = []
        package var i = 0

        package init(text: String) {
            var n = 0
            for rawSub in text.split(separator: "\n", omittingEmptySubsequences: false) {
                n += 1
                var raw = String(rawSub)
                if raw.hasSuffix("\r") { raw.removeLast() }
                let indent = raw.prefix(while: { $0 == " " }).count
                lines.append(Line(number: n, indent: indent, content: YAML.stripComment(String(raw.dropFirst(indent))), raw: raw))
            }
        }

        package mutating func document() throws -> YAMLNode {
            for l in lines {
                if l.raw.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                    throw YAMLError(line: l.number, message: "tab used for indentation; indent with spaces")
                }
                if l.indent == 0 && (l.content == "---" || l.content == "...") {
                    if l.number != firstContentLine { throw YAMLError(line: l.number, message: "only one document per scenario file") }
                }
            }
            lines.removeAll { $0.indent == 0 && $0.content == "---" }
            skipBlank()
            guard i < lines.count else { throw YAMLError(line: 1, message: "the file is empty") }
            let node = try block(indent: lines[i].indent)
            skipBlank()
            if i < lines.count {
                throw YAMLError(line: lines[i].number, message: "unexpected indentation; this line does not belong to the block above it")
            }
            return node
        }

        package var firstContentLine: Int { lines.first(where: { !$0.content.isEmpty })?.number ?? 0 }

        package mutating func skipBlank() {
            while i < lines.count && lines[i].content.isEmpty { i += 1 }
        }

        /// A block whose first line is at `indent`.
        package mutating func block(indent: Int) throws -> YAMLNode {
            skipBlank()
            let l = lines[i]
            if l.content == "-" || l.content.hasPrefix("- ") { return try sequence(indent: indent) }
            if YAML.splitKey(l.content) != nil { return try mapping(indent: indent) }
            // A lone scalar block (e.g. the value of a key on the following line).
            i += 1
            skipBlank()
            if i < lines.count && lines[i].indent >= indent && lines[i].indent > 0 && indent > 0 {
                throw YAMLError(line: lines[i].number, message: "a value cannot continue on the next line; quote it or use | for text over several lines")
            }
            return try YAML.scalarOrFlow(l.content, line: l.number)
        }

        package mutating func sequence(indent: Int) throws -> YAMLNode {
            var items: [YAMLNode] = []
            let start = lines[i].number
            while true {
                skipBlank()
                guard i < lines.count, lines[i].indent == indent else { break }
                let l = lines[i]
                guard l.content == "-" || l.content.hasPrefix("- ") else {
                    if YAML.splitKey(l.content) != nil {
                        throw YAMLError(line: l.number, message: "expected a list item ('- …') at this indentation, found a key; indent it under the item above or start it with '- '")
                    }
                    throw YAMLError(line: l.number, message: "expected a list item starting with '- '")
                }
                if l.content == "-" {
                    i += 1
                    skipBlank()
                    guard i < lines.count, lines[i].indent > indent else {
                        items.append(YAMLNode(value: .scalar("", quoted: false), line: l.number))
                        continue
                    }
                    items.append(try block(indent: lines[i].indent))
                } else {
                    // "- key: value" or "- - x": re-read the rest as a block at its own column.
                    let rest = String(l.content.dropFirst(2))
                    let pad = 2 + rest.prefix(while: { $0 == " " }).count
                    lines[i] = Line(number: l.number, indent: indent + pad, content: rest.trimmingCharacters(in: .whitespaces), raw: l.raw)
                    items.append(try block(indent: indent + pad))
                }
            }
            if i < lines.count, lines[i].indent > indent {
                throw YAMLError(line: lines[i].number, message: "unexpected indentation inside the list")
            }
            return YAMLNode(value: .sequence(items), line: start)
        }

        package mutating func mapping(indent: Int) throws -> YAMLNode {
            var entries: [(key: String, line: Int, value: YAMLNode)] = []
            let start = lines[i].number
            while true {
                skipBlank()
                guard i < lines.count, lines[i].indent == indent else { break }
                let l = lines[i]
                guard let (key, rest) = YAML.splitKey(l.content) else {
                    if l.content.hasPrefix("- ") || l.content == "-" {
                        throw YAMLError(line: l.number, message: "a list item at this indentation does not belong to the block above; indent it like the other items of its list, under a key such as 'steps:'")
                    }
                    throw YAMLError(line: l.number, message: "expected 'key: value'; found '\(YAML.clip(l.content))'")
                }
                if entries.contains(where: { $0.key == key }) {
                    throw YAMLError(line: l.number, message: "'\(key)' appears twice in the same block")
                }
                i += 1
                let value: YAMLNode
                if rest.isEmpty {
                    skipBlank()
                    if i < lines.count, lines[i].indent > indent {
                        value = try block(indent: lines[i].indent)
                    } else if i < lines.count, lines[i].indent == indent, lines[i].content.hasPrefix("- ") || lines[i].content == "-" {
                        value = try sequence(indent: indent)
                    } else {
                        value = YAMLNode(value: .scalar("", quoted: false), line: l.number)
                    }
                } else if ["|", "|-", "|+", ">", ">-", ">+"].contains(rest), let style = rest.first {
                    value = YAMLNode(value: .scalar(blockText(parentIndent: indent, folded: style == ">", keep: rest.hasSuffix("+"), strip: rest.hasSuffix("-")), quoted: true), line: l.number)
                } else {
                    value = try YAML.scalarOrFlow(rest, line: l.number)
                    skipBlank()
                    if i < lines.count, lines[i].indent > indent {
                        throw YAMLError(line: lines[i].number, message: "unexpected indentation: '\(key)' on line \(l.number) already has a value; quote text over several lines or use |")
                    }
                }
                entries.append((key, l.number, value))
            }
            if i < lines.count, lines[i].indent > indent {
                throw YAMLError(line: lines[i].number, message: "unexpected indentation")
            }
            return YAMLNode(value: .mapping(entries), line: start)
        }

        /// Lines of a `|` or `>` block: everything indented deeper than the key, raw (no comments).
        package mutating func blockText(parentIndent: Int, folded: Bool, keep: Bool, strip: Bool) -> String {
            var body: [String] = []
            var blockIndent: Int?
            while i < lines.count {
                let l = lines[i]
                let blank = l.raw.trimmingCharacters(in: .whitespaces).isEmpty
                if !blank {
                    if l.indent <= parentIndent { break }
                    if blockIndent == nil { blockIndent = l.indent }
                    if let b = blockIndent, l.indent < b { break }
                }
                body.append(blank ? "" : String(l.raw.dropFirst(blockIndent ?? 0)))
                i += 1
            }
            var trailing = 0
            while let last = body.last, last.isEmpty { body.removeLast(); trailing += 1 }
            var text: String
            if folded {
                text = ""
                for (k, line) in body.enumerated() {
                    if k > 0 { text += (line.isEmpty || body[k - 1].isEmpty) ? "\n" : " " }
                    text += line
                }
            } else {
                text = body.joined(separator: "\n")
            }
            if strip { return text }
            return text + (keep ? String(repeating: "\n", count: trailing + 1) : "\n")
        }
    }

    // MARK: scalars and one-line collections

    package static func scalarOrFlow(_ s: String, line: Int) throws -> YAMLNode {
        if let c = s.first, "&*!%@`".contains(c) {
            throw YAMLError(line: line, message: "'\(c)' (YAML anchors, aliases, tags, reserved characters) is not supported; quote the value")
        }
        if s.first == "{" || s.first == "[" {
            var flow = Flow(chars: Array(s), line: line)
            let node = try flow.value()
            flow.skipSpaces()
            guard flow.pos == flow.chars.count else {
                throw YAMLError(line: line, message: "unexpected text after the closing bracket: '\(clip(String(flow.chars[flow.pos...])))'")
            }
            return node
        }
        return YAMLNode(value: try scalar(s, line: line), line: line)
    }

    package static func scalar(_ s: String, line: Int) throws -> YAMLNode.Value {
        guard let q = s.first, q == "\"" || q == "'" else { return .scalar(s, quoted: false) }
        var chars = Array(s.dropFirst())
        var out = ""
        while !chars.isEmpty {
            let c = chars.removeFirst()
            if c == q {
                if q == "'" && chars.first == "'" { chars.removeFirst(); out.append("'"); continue }
                guard chars.allSatisfy({ $0 == " " }) else {
                    throw YAMLError(line: line, message: "unexpected text after the closing quote: '\(clip(String(chars)))'")
                }
                return .scalar(out, quoted: true)
            }
            if q == "\"" && c == "\\" && !chars.isEmpty {
                let e = chars.removeFirst()
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                default: throw YAMLError(line: line, message: "unknown escape '\\\(e)' in double-quoted text")
                }
                continue
            }
            out.append(c)
        }
        throw YAMLError(line: line, message: "a quoted value is not closed (missing \(q))")
    }

    package struct Flow {
        package let chars: [Character]
        package let line: Int
        package var pos = 0

        package mutating func skipSpaces() { while pos < chars.count && chars[pos] == " " { pos += 1 } }

        package mutating func value() throws -> YAMLNode {
            skipSpaces()
            guard pos < chars.count else { throw YAMLError(line: line, message: "a value is missing inside the brackets") }
            if chars[pos] == "{" {
                pos += 1
                var entries: [(key: String, line: Int, value: YAMLNode)] = []
                while true {
                    skipSpaces()
                    if pos < chars.count && chars[pos] == "}" { pos += 1; break }
                    let keyText = try atom(stops: ":,}")
                    guard case .scalar(let key, _) = try YAML.scalar(keyText, line: line), !key.isEmpty else {
                        throw YAMLError(line: line, message: "a key is missing inside { }")
                    }
                    guard pos < chars.count, chars[pos] == ":" else {
                        throw YAMLError(line: line, message: "expected ':' after '\(key)' inside { }")
                    }
                    pos += 1
                    if entries.contains(where: { $0.key == key }) { throw YAMLError(line: line, message: "'\(key)' appears twice inside { }") }
                    entries.append((key, line, try value()))
                    skipSpaces()
                    if pos < chars.count && chars[pos] == "," { pos += 1; continue }
                    if pos < chars.count && chars[pos] == "}" { pos += 1; break }
                    throw YAMLError(line: line, message: "expected ',' or '}' inside { }")
                }
                return YAMLNode(value: .mapping(entries), line: line)
            }
            if chars[pos] == "[" {
                pos += 1
                var items: [YAMLNode] = []
                while true {
                    skipSpaces()
                    if pos < chars.count && chars[pos] == "]" { pos += 1; break }
                    items.append(try value())
                    skipSpaces()
                    if pos < chars.count && chars[pos] == "," { pos += 1; continue }
                    if pos < chars.count && chars[pos] == "]" { pos += 1; break }
                    throw YAMLError(line: line, message: "expected ',' or ']' inside [ ]")
                }
                return YAMLNode(value: .sequence(items), line: line)
            }
            return YAMLNode(value: try YAML.scalar(try atom(stops: ",}]"), line: line), line: line)
        }

        /// A plain or quoted scalar up to one of `stops` (outside quotes).
        package mutating func atom(stops: String) throws -> String {
            skipSpaces()
            let start = pos
            if pos < chars.count, chars[pos] == "\"" || chars[pos] == "'" {
                let q = chars[pos]
                pos += 1
                while pos < chars.count {
                    if chars[pos] == "\\" && q == "\"" { pos += 2; continue }
                    if chars[pos] == q {
                        if q == "'" && pos + 1 < chars.count && chars[pos + 1] == "'" { pos += 2; continue }
                        pos += 1
                        break
                    }
                    pos += 1
                }
            } else {
                while pos < chars.count && !stops.contains(chars[pos]) {
                    if chars[pos] == "{" || chars[pos] == "[" { throw YAMLError(line: line, message: "nested brackets inside a one-line value; write the block over several lines") }
                    pos += 1
                }
            }
            let text = String(chars[start..<min(pos, chars.count)]).trimmingCharacters(in: .whitespaces)
            skipSpaces()
            return text
        }
    }

    // MARK: helpers

    /// Splits "key: value" (key may be quoted); nil when the line is not a mapping entry.
    package static func splitKey(_ s: String) -> (String, String)? {
        guard let first = s.first, first != "{", first != "[", !s.hasPrefix("- ") else { return nil }
        var keyEnd = s.startIndex
        var key: String
        if first == "\"" || first == "'" {
            guard let close = s.dropFirst().firstIndex(of: first) else { return nil }
            key = String(s[s.index(after: s.startIndex)..<close])
            keyEnd = s.index(after: close)
            guard keyEnd < s.endIndex, s[keyEnd] == ":" else { return nil }
        } else {
            var idx = s.startIndex
            while true {
                guard let colon = s[idx...].firstIndex(of: ":") else { return nil }
                let after = s.index(after: colon)
                if after == s.endIndex || s[after] == " " { keyEnd = colon; break }
                idx = after
            }
            key = String(s[..<keyEnd]).trimmingCharacters(in: .whitespaces)
            if key.isEmpty { return nil }
        }
        let value = String(s[s.index(after: keyEnd)...]).trimmingCharacters(in: .whitespaces)
        return (key, value)
    }

    /// Drops a `#` comment (one at the start or after a space, outside quotes) and trailing spaces.
    package static func stripComment(_ s: String) -> String {
        var inQuote: Character?
        var prev: Character = " "
        var end = s.endIndex
        for idx in s.indices {
            let c = s[idx]
            if let q = inQuote {
                if c == q { inQuote = nil }
            } else if c == "\"" || c == "'" {
                if " :[{,-(=".contains(prev) { inQuote = c }
            } else if c == "#" && (prev == " " || prev == "\t") {
                end = idx
                break
            }
            prev = c
        }
        var out = String(s[..<end])
        while out.last == " " || out.last == "\t" { out.removeLast() }
        return out
    }

    package static func clip(_ s: String) -> String { s.count > 40 ? String(s.prefix(40)) + "…" : s }
}
