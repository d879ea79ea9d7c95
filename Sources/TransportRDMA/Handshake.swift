/// What each side tells the other in the rdma_cm private data (connect request and accept): how
/// many receive buffers it posts (the sender's initial credits) and how large each is (the largest
/// SEND piece it accepts). 16 bytes, little-endian: magic 'TRDM' u32 | version u8 | 0 u8 u16 |
/// receive count u32 | receive size u32. The CM may pad private data with zeros; the rest is ignored.
struct Handshake: Sendable, Equatable {
    static let magic: UInt32 = 0x4D44_5254
    static let version: UInt8 = 1
    static let size = 16

    var receiveCount: Int
    var receiveSize: Int

    var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        func le(_ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        le(Self.magic)
        out += [Self.version, 0, 0, 0]
        le(UInt32(receiveCount))
        le(UInt32(receiveSize))
        return out
    }

    init(receiveCount: Int, receiveSize: Int) {
        self.receiveCount = receiveCount
        self.receiveSize = receiveSize
    }

    /// Nil when `bytes` is not a handshake of this version (another program, or a peer too old).
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        func le(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        guard le(0) == Self.magic, bytes[4] == Self.version else { return nil }
        receiveCount = Int(le(8))
        receiveSize = Int(le(12))
        guard receiveCount >= 2, receiveSize > RDMAConnection.creditPrefix else { return nil }
    }
}
