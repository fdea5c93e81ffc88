import Foundation
import LifeboatCore

/// Range reads into the caller's memory, for restore's per-worker buffers.
public protocol RangeReading {
    /// Whether `readRange(_:offset:length:into:)` fills the buffer without an array in between
    /// (a local file, read with O_DIRECT past the page cache). Restore then reads larger ranges,
    /// since the buffers bound its memory, not the number of responses in flight.
    var readsIntoBuffer: Bool { get }
    /// Reads `length` bytes at `offset` into `buffer` (at least `FileIO.directReadBound(length)`
    /// bytes) and returns where in it they are.
    func readRange(_ key: ObjectKey, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer
}

extension Backend {
    public var readsIntoBuffer: Bool { false }

    /// Reads the range as an array and copies it in: right for a network store, whose response
    /// arrives in memory anyway.
    public func readRange(_ key: ObjectKey, offset: Int, length: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> UnsafeRawBufferPointer {
        let bytes = try getRange(key, offset: offset, length: length)
        guard bytes.count <= buffer.count else {
            throw LifeboatError(.internalError, "a read buffer of \(buffer.count) bytes cannot hold a range of \(bytes.count) of \(key.path)")
        }
        bytes.withUnsafeBytes { src in
            if let base = src.baseAddress, let dst = buffer.baseAddress { dst.copyMemory(from: base, byteCount: src.count) }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }
}
