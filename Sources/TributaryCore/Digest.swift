/// A fast, deterministic 64-bit digest of a byte range (not cryptographic).
///
/// Ranks and the coordinator's host replay exchange per-chunk digests instead of the chunks themselves
/// (DESIGN.md §6), so the digest must be fast (several GB/s), identical on every platform and run (words are
/// read little-endian, no per-process seed), and should not let a real difference slip through. The structure
/// is xxHash64-like: four independent lanes absorb 32 bytes per step (instruction-level parallelism), then the
/// lanes, the remaining 8-byte words and the zero-padded last partial word are folded in sequence into a state
/// that started from the length, and a final avalanche spreads every bit.
///
/// Every step is a bijection of the running state for a fixed input word, and of the input word for a fixed
/// state, so two inputs of the same length that differ only inside one aligned 8-byte word — in particular
/// any single bit flip — always give different digests. Other differences collide with probability ~2^-64.
public enum Digest {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var state = prime5 ^ (UInt64(count) &* prime3)
        guard let base = bytes.baseAddress, count > 0 else { return avalanche(state) }

        var offset = 0
        if count >= 32 {
            var lane0 = prime1 &+ prime2
            var lane1 = prime2
            var lane2: UInt64 = 0
            var lane3 = 0 &- prime1
            while count &- offset >= 32 {
                lane0 = round(lane0, word(base, offset))
                lane1 = round(lane1, word(base, offset &+ 8))
                lane2 = round(lane2, word(base, offset &+ 16))
                lane3 = round(lane3, word(base, offset &+ 24))
                offset &+= 32
            }
            state = fold(state, lane0)
            state = fold(state, lane1)
            state = fold(state, lane2)
            state = fold(state, lane3)
        }
        while count &- offset >= 8 {
            state = fold(state, word(base, offset))
            offset &+= 8
        }
        if offset < count {
            var last: UInt64 = 0
            withUnsafeMutableBytes(of: &last) {
                $0.baseAddress!.copyMemory(from: base + offset, byteCount: count &- offset)
            }
            state = fold(state, UInt64(littleEndian: last))
        }
        return avalanche(state)
    }

    @inline(__always)
    private static func word(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private static func rotateLeft(_ x: UInt64, _ r: UInt64) -> UInt64 { (x &<< r) | (x &>> (64 &- r)) }

    /// xxHash64's lane round: add, rotate and multiply by an odd constant — a bijection in `lane` and in `word`.
    @inline(__always)
    private static func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
        rotateLeft(lane &+ word &* prime2, 31) &* prime1
    }

    /// Folds one 64-bit value into the sequential state: bijective in `state` for a fixed `value` and vice versa.
    @inline(__always)
    private static func fold(_ state: UInt64, _ value: UInt64) -> UInt64 {
        rotateLeft(state ^ round(0, value), 27) &* prime1 &+ prime4
    }

    /// xxHash64's final avalanche (a bijection).
    @inline(__always)
    private static func avalanche(_ h0: UInt64) -> UInt64 {
        var h = h0
        h ^= h >> 33
        h = h &* prime2
        h ^= h >> 29
        h = h &* prime3
        h ^= h >> 32
        return h
    }
}
