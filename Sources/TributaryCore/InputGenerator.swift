/// Deterministic, indexable test inputs: element `i` of rank `r`'s buffer is a pure function of
/// `(seed, specials, dtype, r, i)`.
///
/// Workers generate their inputs from it and the coordinator regenerates any rank's elements to replay the
/// tree-order reduction (DESIGN.md §6), chunk by chunk, without ever holding a whole buffer. That is why it is
/// counter-based (a splitmix64 finaliser over a Weyl sequence keyed by seed and rank) rather than a stream:
/// generating `[0, n)` in one call or in pieces at any offsets gives the same bits.
///
/// Float values without specials are finite, of random sign, with a random fraction and an exponent spread
/// over 2^-20…2^20 (binary16: 2^-8…2^8), so that summing in a different order gives different bits — that is
/// what makes the bit-exact replay of the tree order a meaningful check — while sums over 64 ranks cannot
/// overflow. Products over many ranks may overflow to ±∞ or underflow; that is fine, just deterministic.
/// With `specials`, about 1 element in 64 is instead one of: quiet NaN, signalling NaN (random sign and
/// payload), ±0, ±∞, a subnormal (random sign and fraction), or ±the largest finite value.
/// Integer elements are uniformly random bits; `specials` does not affect them.
public struct InputGenerator: Sendable, Hashable, Codable {
    public var seed: UInt64
    public var specials: Bool

    public init(seed: UInt64, specials: Bool = false) {
        self.seed = seed
        self.specials = specials
    }

    /// Writes elements `[offset, offset + count)` of `rank`'s input for `dtype` into `into` (aligned for `dtype`).
    public func fill(_ dtype: DType, rank: Int, offset: Int, count: Int, into: UnsafeMutableRawPointer) {
        precondition(offset >= 0 && count >= 0, "negative offset or count")
        let key = streamKey(rank: rank)
        switch dtype {
        case .f32: floats(into, key, offset, count, UInt32.self, Self.f32Format)
        case .f64: floats(into, key, offset, count, UInt64.self, Self.f64Format)
        case .f16: floats(into, key, offset, count, UInt16.self, Self.f16Format)
        case .bf16: floats(into, key, offset, count, UInt16.self, Self.bf16Format)
        case .i32, .u32: write(into, key, offset, count, UInt32.self) { UInt32(truncatingIfNeeded: $0) }
        case .i64, .u64: write(into, key, offset, count, UInt64.self) { $0 }
        case .i8, .u8: write(into, key, offset, count, UInt8.self) { UInt8(truncatingIfNeeded: $0 >> 56) }
        }
    }

    /// Convenience: elements `[offset, offset + count)` as an array of any type with `dtype`'s size (e.g. the
    /// bit patterns as `UInt32` for `f32`, or `Float` values).
    public func array<T: BitwiseCopyable>(
        _ dtype: DType, rank: Int, offset: Int = 0, count: Int, as type: T.Type = T.self
    ) -> [T] {
        precondition(MemoryLayout<T>.size == dtype.size && MemoryLayout<T>.stride == dtype.size,
                     "\(T.self) does not have the size of \(dtype)")
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress, count > 0 {
                fill(dtype, rank: rank, offset: offset, count: count, into: UnsafeMutableRawPointer(base))
            }
            initialized = count
        }
    }

    // MARK: Hashing

    private static let golden = SplitMix64.golden

    @inline(__always)
    private static func mix(_ z: UInt64) -> UInt64 { SplitMix64.mix(z) }

    /// Start of `rank`'s Weyl sequence; mixing seed and rank twice keeps nearby seeds and ranks unrelated.
    private func streamKey(rank: Int) -> UInt64 {
        Self.mix(Self.mix(seed ^ 0x5452_4942_5554_4152) &+ UInt64(bitPattern: Int64(rank)) &* 0xD1B5_4A32_D192_ED03)
    }

    @inline(__always)
    private func write<T>(
        _ into: UnsafeMutableRawPointer, _ key: UInt64, _ offset: Int, _ count: Int, _: T.Type,
        _ element: (UInt64) -> T
    ) {
        let size = MemoryLayout<T>.size
        for i in 0..<count {
            let hash = Self.mix(key &+ UInt64(offset + i) &* Self.golden)
            into.storeBytes(of: element(hash), toByteOffset: i * size, as: T.self)
        }
    }

    /// The format is passed in (not read from the static inside the loop) so the loop sees plain constants.
    @inline(__always)
    private func floats<T: FixedWidthInteger>(
        _ into: UnsafeMutableRawPointer, _ key: UInt64, _ offset: Int, _ count: Int, _: T.Type, _ format: Format
    ) {
        let specials = specials
        write(into, key, offset, count, T.self) { T(truncatingIfNeeded: format.bits($0, specials: specials)) }
    }

    // MARK: Values

    /// The fields of one IEEE binary format, enough to build any class of value from hash bits. Everything is
    /// precomputed so the per-element work is a few shifts and masks.
    private struct Format {
        let fractionBits: UInt64
        let signShift: UInt64
        let fractionMask: UInt64
        let maxExponentField: UInt64
        /// Lowest biased exponent of ordinary values, and how many exponents they span.
        let firstExponent: UInt64
        let exponentSpan: UInt64

        init(exponentBits: UInt64, fractionBits: UInt64, exponents: ClosedRange<Int>) {
            let bias = (1 << (Int(exponentBits) - 1)) - 1
            self.fractionBits = fractionBits
            signShift = exponentBits + fractionBits
            fractionMask = (1 << fractionBits) - 1
            maxExponentField = (1 << exponentBits) - 1
            firstExponent = UInt64(exponents.lowerBound + bias)
            exponentSpan = UInt64(exponents.count)
        }

        /// Bit pattern for the hash `h`: an ordinary value, or (if `specials` and the top 6 bits are zero,
        /// 1 in 64) a special one.
        @inline(__always)
        func bits(_ h: UInt64, specials: Bool) -> UInt64 {
            let sign = ((h >> 40) & 1) << signShift
            // A second, independent word for the fraction: wide formats need up to 52 random bits.
            let fraction = InputGenerator.mix(h ^ 0x6A09_E667_F3BC_C909) & fractionMask
            if specials && h >> 58 == 0 {
                let quiet: UInt64 = 1 << (fractionBits - 1)
                let infinity = maxExponentField << fractionBits
                switch (h >> 41) % 7 {
                case 0: return sign | infinity | quiet | fraction  // quiet NaN, random payload
                case 1: return sign | infinity | (fraction & ~quiet | 1)  // signalling NaN: non-zero payload
                case 2: return sign  // ±0
                case 3: return sign | infinity  // ±∞
                case 4, 5: return sign | (fraction | 1)  // subnormal (non-zero)
                default: return sign | ((maxExponentField - 1) << fractionBits) | fractionMask  // ±largest finite
                }
            }
            // Uniform over the range by multiply-shift (no division) on 24 bits of the hash.
            let exponent = firstExponent &+ (((h & 0xFF_FFFF) &* exponentSpan) >> 24)
            return sign | (exponent << fractionBits) | fraction
        }
    }

    private static let f32Format = Format(exponentBits: 8, fractionBits: 23, exponents: -20...20)
    private static let f64Format = Format(exponentBits: 11, fractionBits: 52, exponents: -20...20)
    private static let f16Format = Format(exponentBits: 5, fractionBits: 10, exponents: -8...8)
    private static let bf16Format = Format(exponentBits: 8, fractionBits: 7, exponents: -20...20)
}
