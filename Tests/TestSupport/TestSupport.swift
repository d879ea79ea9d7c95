import Foundation
import TributaryCore
import Verbs

/// The RDMA devices tests use. In the rxe VM (scripts/rxe-vm) rxe0 serves RXE_IP0 and rxe1 serves
/// RXE_IP1; elsewhere the first ACTIVE port's IPv4 address. Soft-RoCE serves no loopback, so
/// RDMA listeners never bind 127.0.0.1 unless there is no device (and then RDMA tests skip).
public enum RDMATestHost {
    public static let readiness = RDMAReadiness.check()
    public static var usable: Bool { readiness.usable }
    /// Where aggregators and single listeners bind.
    public static let address = ProcessInfo.processInfo.environment["RXE_IP0"]
        ?? readiness.choice?.ipv4Address ?? "127.0.0.1"
    /// A second device for the other end (workers), the same address when there is one device.
    public static let peerAddress = ProcessInfo.processInfo.environment["RXE_IP1"] ?? address
}

/// A one-chunk u32 frame whose payload bytes depend on `i` and the position, so a frame that
/// arrives out of order, cut or from another sender does not compare equal.
public func testChunk(_ i: Int, elements: Int) -> Frame {
    let header = ChunkHeader(job: 1, origin: UInt32(i), opSeq: UInt64(i), totalCount: UInt64(elements),
                             elementOffset: 0, chunkIndex: 0, chunkCount: 1, elementCount: UInt32(elements),
                             collective: .allreduce, dtype: .u32, op: .sum, flags: [], root: 0,
                             payloadLength: UInt32(elements * 4))
    var payload = [UInt8](repeating: 0, count: elements * 4)
    for j in payload.indices { payload[j] = UInt8(truncatingIfNeeded: j &* 31 &+ i) }
    return .chunk(header, payload: payload)
}

/// Fails the test instead of hanging (the VM, CI) when `body` takes longer than `seconds`.
public func within<T: Sendable>(_ seconds: Double, _ what: String,
                                _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withDeadline(.seconds(seconds), orThrow: TimedOut(what: what, seconds: seconds), body)
}

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var seconds: Double
    public var description: String { "\(what) did not happen within \(seconds) s" }
}
