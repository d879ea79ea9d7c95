import Foundation
import Verbs

/// The caller's buffers registered on one protection domain (`FrameConnection.register`), so
/// chunks inside them go out by DMA from where they are instead of through a send buffer.
///
/// Register once, reuse: registering a range that an existing registration already covers only
/// counts a reference (no `ibv_reg_mr`); `segment(covering:)` finds the registration a payload lies
/// in. The last `deregister` drops the entry; the `MemoryRegion` itself is deregistered when the
/// last work request that names it has completed (each posted segment holds it).
///
/// Why nothing is cached past the caller's `deregister`: a buffer freed and another allocated at the
/// same address may sit on other pages, and a registration kept from before would send the old
/// pages. Like NCCL's user-buffer registration, the caller says how long memory lives; buffers it
/// never registers are copied.
final class RegistrationCache: @unchecked Sendable {
    private struct Entry {
        var start: UInt
        var end: UInt
        var region: MemoryRegion
        var references: Int
    }

    private let protectionDomain: ProtectionDomain
    private let lock = NSLock()
    private var entries: [Entry] = []
    /// `ibv_reg_mr` calls made, and registrations served by an existing entry (for tests and logs).
    private(set) var registrations = 0
    private(set) var reuses = 0

    init(protectionDomain: ProtectionDomain) {
        self.protectionDomain = protectionDomain
    }

    func register(_ buffer: UnsafeRawBufferPointer) throws(VerbsError) {
        guard let (start, end) = Self.bounds(of: buffer) else { return }
        let reused = lock.withLock { () -> Bool in
            guard let index = indexCovering(start, end) else { return false }
            entries[index].references += 1
            reuses += 1
            return true
        }
        if reused { return }
        // Local read is all a SEND or WRITE source needs (read-only pages register too).
        let region = try MemoryRegion(protectionDomain: protectionDomain,
                                      registering: UnsafeMutableRawBufferPointer(mutating: buffer), access: [])
        lock.withLock {
            entries.append(Entry(start: start, end: end, region: region, references: 1))
            registrations += 1
        }
    }

    func deregister(_ buffer: UnsafeRawBufferPointer) {
        guard let (start, end) = Self.bounds(of: buffer) else { return }
        lock.withLock {
            guard let index = entries.firstIndex(where: { $0.start == start && $0.end == end })
                ?? indexCovering(start, end) else { return }
            entries[index].references -= 1
            if entries[index].references == 0 { entries.remove(at: index) }
        }
    }

    /// The registered bytes `payload` occupies, if a registration covers all of it.
    func segment(covering payload: UnsafeRawBufferPointer) -> MemoryRegion.Segment? {
        guard let (start, end) = Self.bounds(of: payload) else { return nil }
        return lock.withLock {
            guard let index = indexCovering(start, end) else { return nil }
            let entry = entries[index]
            return entry.region.segment(offset: Int(start - entry.start), length: payload.count)
        }
    }

    /// `[start, end)` of `buffer`'s bytes; nil for an empty buffer (nothing to register or find).
    private static func bounds(of buffer: UnsafeRawBufferPointer) -> (UInt, UInt)? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        return (UInt(bitPattern: base), UInt(bitPattern: base) + UInt(buffer.count))
    }

    /// The first registration that covers all of `[start, end)`. Lock held.
    private func indexCovering(_ start: UInt, _ end: UInt) -> Int? {
        entries.firstIndex { $0.start <= start && end <= $0.end }
    }

    var registeredBytes: Int { lock.withLock { entries.reduce(0) { $0 + Int($1.end - $1.start) } } }
}
