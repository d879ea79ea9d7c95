/// A bfloat16 value: the top 16 bits of an IEEE binary32 (1 sign, 8 exponent, 7 fraction bits).
///
/// The stdlib has no bfloat16, and the fabric only needs to move, reduce and print it, so this is a thin
/// storage type: arithmetic happens in `Float` (see `Reduction`), and the result is rounded back here.
/// Equality is bitwise on purpose — validation compares bit patterns, so `NaN == NaN` (same payload) is true
/// and `-0 == +0` is false.
public struct BFloat16: Sendable, Hashable, CustomStringConvertible {
    /// The raw encoding, as it appears on the wire and in buffers.
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) {
        self.bitPattern = bitPattern
    }

    /// Rounds `f` to the nearest bfloat16, ties to even; overflow rounds to ±infinity.
    ///
    /// A NaN stays a NaN: the sign and the top 7 payload bits are kept and the quiet bit is forced, so a
    /// signalling NaN whose payload lives only in the discarded low bits cannot turn into an infinity.
    public init(_ f: Float) {
        let bits = f.bitPattern
        if f.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        } else {
            // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to the even neighbour; a carry
            // out of the fraction correctly bumps the exponent (up to infinity for the largest values).
            let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
            bitPattern = UInt16(truncatingIfNeeded: rounded >> 16)
        }
    }

    /// The exact value as a `Float` (every bfloat16 is representable, so this never rounds).
    public var floatValue: Float {
        Float(bitPattern: UInt32(bitPattern) << 16)
    }

    public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }

    public var description: String { floatValue.description }
}
