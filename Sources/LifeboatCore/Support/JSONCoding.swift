import Foundation

/// Lifeboat's one JSON style, for stored objects and printed output alike: keys sorted (the
/// same value always gives the same bytes, and output diffs well), slashes not escaped (paths
/// and base64 stay legible; "\/" and "/" are the same JSON to any reader), and keys in
/// snake_case derived from the property names, so types need no hand-written CodingKeys.
public enum JSONCoding {
    /// How property names become keys.
    public enum Keys: Sendable {
        /// `bytesAdded` ↔ `bytes_added`: the house style.
        case snakeCase
        /// Keys exactly as the type spells them, for the few whose keys are not the mechanical
        /// snake case of their properties (IAM's "Sid", camelCase that output has always had,
        /// a nested type from a lower floor that keeps explicit snake_case CodingKeys: those
        /// decode only as written). Dictionary keys are never converted either way.
        case asWritten
    }

    public static func encoder(pretty: Bool = false, keys: Keys = .snakeCase) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        if keys == .snakeCase { e.keyEncodingStrategy = .convertToSnakeCase }
        return e
    }

    public static func decoder(keys: Keys = .snakeCase) -> JSONDecoder {
        let d = JSONDecoder()
        if keys == .snakeCase { d.keyDecodingStrategy = .convertFromSnakeCase }
        return d
    }

    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false, keys: Keys = .snakeCase) throws -> [UInt8] {
        [UInt8](try encoder(pretty: pretty, keys: keys).encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Sequence<UInt8>, keys: Keys = .snakeCase) throws -> T {
        try decoder(keys: keys).decode(type, from: Data(bytes))
    }
}
