import Foundation
import TributaryCore

/// The last chunks of a rank's last finished in-network operation, copied before the buffer goes
/// back to the application. When a switch is lost, a rank still in that operation may lack
/// results this rank has; they are the ones that arrived last (results travel in the root's order
/// down FIFO links, and the root cannot get past a rank's window without it), so a window's worth
/// is enough.
struct ResultRetention {
    private(set) var opSeq: UInt64 = 0
    private var chunks: [Int: Range<Int>] = [:]
    private var storage: [UInt8] = []

    var retained: [Int] { chunks.keys.sorted() }

    /// Keeps the bytes of `last` chunks (the receipt order's tail) that this rank holds.
    mutating func keep(opSeq: UInt64, last: ArraySlice<Int>, bytes: (Int) -> UnsafeRawBufferPointer?) {
        self.opSeq = opSeq
        chunks.removeAll(keepingCapacity: true)
        storage.removeAll(keepingCapacity: true)
        for k in last {
            guard let b = bytes(k) else { continue }
            let start = storage.count
            storage.append(contentsOf: b)
            chunks[k] = start..<storage.count
        }
    }

    /// The kept bytes of chunk `k` of operation `op`, if they are kept.
    func bytes(op: UInt64, chunk k: Int) -> Data? {
        guard op == opSeq, let r = chunks[k] else { return nil }
        return Data(storage[r])
    }
}

/// Chunks whose result a transport began to place straight into the receive buffer: written from
/// the transport's thread, read by the rank once the connection has ended. A chunk begun and not
/// delivered was cut off mid-placement: its bytes in the buffer are neither input nor result.
final class PlacementLog: @unchecked Sendable {
    private let lock = NSLock()
    private var begun: Set<Int> = []

    func insert(_ chunk: Int) { lock.withLock { _ = begun.insert(chunk) } }
    var snapshot: Set<Int> { lock.withLock { begun } }
}
