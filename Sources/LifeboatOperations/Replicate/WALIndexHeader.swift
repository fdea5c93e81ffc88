import Foundation
import LifeboatCore

/// The header of SQLite's wal-index (the `-shm` file): which WAL generation (its salts) and how
/// many of its frames are committed and visible to readers (`mxFrame`).
///
/// A committing writer appends its frames to the WAL and only then stores the new mxFrame
/// here, so frames past it are not committed: they may be a transaction whose fsync is still
/// running, or failed, or that of a writer killed before this update (another writer then
/// writes over them). Readers, replicate's included, stop at mxFrame.
///
/// Read with `pread` from a descriptor that is never closed (`DatabaseDescriptors`): the
/// process's SQLite connections hold POSIX locks on this file (their read marks among them),
/// and closing any descriptor of it would drop them all. Not mapped: SQLite truncates the file
/// when it rebuilds it, and reading past the end of a mapping is SIGBUS.
struct WALIndexHeader: Equatable {
    var salt1: UInt32
    var salt2: UInt32
    var mxFrame: UInt32

    /// Whether this header is of the WAL generation with these salts (a restart changes both).
    func isGeneration(_ salt1: UInt32, _ salt2: UInt32) -> Bool {
        self.salt1 == salt1 && self.salt2 == salt2
    }

    /// The header when its two copies agree and it is initialised (SQLite writes the second
    /// copy first, so a read between the two writes shows them differ); nil otherwise.
    static func read(fd: Int32, into buffer: inout [UInt8]) -> WALIndexHeader? {
        if buffer.count != 96 { buffer = [UInt8](repeating: 0, count: 96) }
        let n = buffer.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, 96, 0) }
        guard n == 96, buffer[0..<48] == buffer[48..<96], buffer[12] == 1 else { return nil }
        // mxFrame is in the machine's byte order; the salts are the WAL header's bytes as they are.
        let mxFrame = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self) }
        return WALIndexHeader(salt1: WALIndex.be32(buffer, 32), salt2: WALIndex.be32(buffer, 36), mxFrame: mxFrame)
    }

    /// The header of `databasePath`'s wal-index now; nil when there is none (no connection has
    /// it open, or `locking_mode=EXCLUSIVE` keeps it in memory) or it is being rewritten.
    static func read(databasePath: String) -> WALIndexHeader? {
        let path = databasePath + "-shm"
        // A missing file fails to open: nil, with no separate existence check.
        guard let fd = try? DatabaseDescriptors.descriptor(for: path) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 96)
        return read(fd: fd, into: &buffer)
    }
}
