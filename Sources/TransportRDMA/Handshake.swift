import Verbs

/// What each side tells the other in the rdma_cm private data (connect request and accept): how
/// many receive buffers it posts (the sender's initial credits), how large each is (the largest
/// piece it accepts), and where those buffers are — address and rkey of the registered receive
/// ring — so a peer that sends with RDMA WRITE with immediate can place each piece in it.
///
/// 32 bytes, little-endian: magic 'TRDM' u32 | version u8 | 0 u8 u16 | receive count u32 |
/// receive size u32 | ring address u64 | ring rkey u32 | 0 u32. rdma_cm allows 56 bytes in a
/// connect request; it may pad private data with zeros; the rest is ignored.
struct Handshake: Sendable, Equatable {
    static let magic: UInt32 = 0x4D44_5254
    static let version: UInt8 = 2
    static let size = 32

    var receiveCount: Int
    var receiveSize: Int
    /// The receive ring: buffer `i` is at `ring.address + i * receiveSize`.
    var ring: RemoteBuffer

    var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        le(Self.magic)
        out += [Self.version, 0, 0, 0]
        le(UInt32(receiveCount))
        le(UInt32(receiveSize))
        le(ring.address)
        le(ring.rkey)
        le(UInt32(0))
        return out
    }

    init(receiveCount: Int, receiveSize: Int, ring: RemoteBuffer) {
        self.receiveCount = receiveCount
        self.receiveSize = receiveSize
        self.ring = ring
    }

    /// Nil when `bytes` is not a handshake of this version (another program, or a peer too old).
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        func le<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            (0..<MemoryLayout<T>.size).reduce(T(0)) { $0 | T(bytes[at + $1]) << (8 * $1) }
        }
        guard le(0, UInt32.self) == Self.magic, bytes[4] == Self.version else { return nil }
        receiveCount = Int(le(8, UInt32.self))
        receiveSize = Int(le(12, UInt32.self))
        ring = RemoteBuffer(address: le(16, UInt64.self), rkey: le(24, UInt32.self))
        guard receiveCount >= 2, receiveSize > RDMAConnection.creditPrefix else { return nil }
    }
}
