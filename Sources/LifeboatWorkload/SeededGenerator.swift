import LifeboatCore

/// A small, fast, seedable PRNG (xoshiro256**, seeded by SplitMix64). Generated databases must
/// be identical for a seed on every machine and Swift version, which `SystemRandomNumberGenerator`
/// cannot give, and attachment bytes need gigabytes of randomness quickly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in 0..<bound without the cost of the generic `random(in:)` (bound > 0).
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Uniform in range.
    @inline(__always)
    public mutating func between(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// True with probability `p`.
    @inline(__always)
    public mutating func chance(_ p: Double) -> Bool {
        Double(next() >> 11) * 0x1p-53 < p
    }

    /// Appends `count` random bytes (incompressible content such as scanned attachments).
    public mutating func appendBytes(_ count: Int, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        out.withUnsafeMutableBytes { raw in
            var i = start
            while i + 8 <= start + count {
                raw.storeBytes(of: next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            var last = next()
            while i < start + count {
                raw[i] = UInt8(truncatingIfNeeded: last)
                last >>= 8
                i += 1
            }
        }
    }
}
