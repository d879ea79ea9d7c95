#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes a file whole or not at all: into a temporary twin, then renamed over the file, so a
/// reader (the merger, a user opening a trace mid-run) never sees half of one, even when the
/// writer is killed.
enum AtomicFile {
    static func write(_ pieces: [[UInt8]], to path: String) throws(TraceError) {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: Self.lastError()) }
        for piece in pieces {
            var offset = 0
            while offset < piece.count {
                let n = piece.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + offset, piece.count - offset) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let reason = Self.lastError()
                    close(fd)
                    unlink(temporary)
                    throw .cannotWrite(path: path, reason: reason)
                }
                offset += n
            }
        }
        guard close(fd) == 0, rename(temporary, path) == 0 else {
            let reason = Self.lastError()
            unlink(temporary)
            throw .cannotWrite(path: path, reason: reason)
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
