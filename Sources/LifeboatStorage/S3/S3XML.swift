import LifeboatCore

/// Just enough XML for S3's answers (ListObjectsV2, InitiateMultipartUpload, Error): they are
/// flat, machine-written documents, so a scanner for <Tag>text</Tag> is sufficient and keeps
/// Foundation's XML stack (and libxml2) out of the binary.
package enum S3XML {
    /// Inner text of every <tag>…</tag> element, in document order, entities decoded.
    package static func values(_ tag: String, in xml: Substring) -> [String] {
        blocks(tag, in: xml).map { unescape($0) }
    }

    package static func value(_ tag: String, in xml: Substring) -> String? {
        blocks(tag, in: xml).first.map { unescape($0) }
    }

    package static func value(_ tag: String, in xml: String) -> String? { value(tag, in: xml[...]) }

    /// Inner XML of every <tag ...>…</tag> element (not nested in itself).
    package static func blocks(_ tag: String, in xml: Substring) -> [Substring] {
        var out: [Substring] = []
        let open = "<" + tag
        let close = "</" + tag + ">"
        var rest = xml
        while let start = rest.range(of: open) {
            let after = rest[start.upperBound...]
            guard let first = after.first else { break }
            if first == "/" && after.dropFirst().first == ">" {  // <Tag/>: empty element
                out.append(after[after.startIndex..<after.startIndex])
                rest = after.dropFirst(2)
                continue
            }
            guard first == ">" || first == " " || first == "\t" || first == "\n" || first == "\r" else {
                rest = after  // <TagSuffix…>: another element
                continue
            }
            guard let gt = after.firstIndex(of: ">") else { break }
            let body = after[after.index(after: gt)...]
            guard let end = body.range(of: close) else { break }
            out.append(body[..<end.lowerBound])
            rest = body[end.upperBound...]
        }
        return out
    }

    package static func unescape(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";"), s.distance(from: i, to: semi) <= 10 {
                let entity = s[s.index(after: i)..<semi]
                var scalar: Unicode.Scalar?
                switch entity {
                case "amp": scalar = "&"
                case "lt": scalar = "<"
                case "gt": scalar = ">"
                case "quot": scalar = "\""
                case "apos": scalar = "'"
                default:
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                    } else if entity.hasPrefix("#") {
                        scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                    }
                }
                if let scalar {
                    out.unicodeScalars.append(scalar)
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }

    package static func escape(_ s: String) -> String { Markup.escape(s) }
}
