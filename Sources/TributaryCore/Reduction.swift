/// Element-wise reduction kernels: `acc[i] = acc[i] ⊕ src[i]`.
///
/// Every aggregator, worker and the coordinator's host replay run these same kernels, and validation compares
/// their results bit for bit, so the semantics below are part of the contract (also in docs/REDUCTION.md).
/// They are chosen to be a pure function of the two operands' bit patterns — independent of the CPU, of
/// vector width and of which operand order the compiler happens to pick for a commutative instruction:
///
/// - Integers: `sum` and `prod` wrap (two's complement, `&+`, `&*`); `min`/`max` are the natural order;
///   `band`/`bor`/`bxor` are bitwise.
/// - Floats, `sum`/`prod`: IEEE 754 with round-to-nearest-even, computed as `acc ⊕ src`. NaNs are handled
///   explicitly rather than left to the hardware (x86 and ARM disagree):
///   1. if `acc` is NaN the result is `acc` with its quiet bit set (sign and payload kept);
///   2. else if `src` is NaN the result is `src` with its quiet bit set;
///   3. else if the operation itself is invalid (∞ − ∞, 0 × ∞) the result is the canonical NaN: positive,
///      quiet, zero payload (`0x7fc00000`, `0x7ff8000000000000`, `0x7e00`, `0x7fc0`).
///   - `f16`: as Swift `Float16` arithmetic (correctly rounded; computing in `Float` and rounding once gives the
///     same bits, because binary32 has more than 2·11+2 significand bits).
///   - `bf16`: both operands widened to `Float` (exact), the operation done in `Float`, and the result rounded
///     back with `BFloat16(Float)` (nearest, ties to even).
/// - Floats, `min`/`max` (IEEE 754-2019 `minimum`/`maximum`, NaN-propagating): NaN rules 1 and 2 above; else the
///   smaller (larger) value; of two equal values — only ±0 can differ in bits — `min` prefers −0 and `max`
///   prefers +0. The result is always one of the operands' bit patterns (quieted if NaN).
///
/// Quieting a NaN is the only way bits are ever changed beyond the arithmetic: a signalling NaN becomes the
/// quiet NaN with the same sign and payload, as IEEE 754 requires of arithmetic operations.
public enum Reduction {
    /// `acc[i] = acc[i] ⊕ src[i]` for `i` in `0..<count`. Both pointers are aligned for `dtype`; they may be equal.
    ///
    /// Precondition (checked by the caller, trapped here): `op.supports(dtype)`.
    /// Vectorised for every dtype; gives exactly the bits of `combineReference`.
    /// `f16` and `bf16` run on the CPU's conversion instructions where it has them (`HalfPrecisionKernels`).
    public static func combine(
        _ op: ReduceOp, _ dtype: DType, into acc: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int
    ) {
        combine(op, dtype, into: acc, from: src, count: count, halfPrecision: HalfPrecisionKernels.selected)
    }

    /// `combine` with the `f16`/`bf16` implementation chosen by the caller (tests run both); `hardware` traps on a
    /// CPU without it. Other dtypes ignore `halfPrecision`.
    static func combine(
        _ op: ReduceOp, _ dtype: DType, into acc: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int,
        halfPrecision: HalfPrecisionKernels
    ) {
        precondition(count >= 0, "negative element count \(count)")
        precondition(op.supports(dtype), "\(op) is not defined for \(dtype)")
        guard count > 0 else { return }
        switch dtype {
        case .f32: combineLanes32(op, F32Lanes.self, acc, src, byteCount: count &* 4)
        case .f16, .bf16:
            // Whole blocks on the hardware kernels, the tail (or everything) on the portable ones.
            let done = halfPrecision == .hardware
                ? HalfPrecisionKernels.combineBlocks(op, dtype, into: acc, from: src, count: count) : 0
            guard done < count else { return }
            let accRest = acc + done &* 2, srcRest = src + done &* 2, bytes = (count &- done) &* 2
            if dtype == .f16 {
                combineLanes32(op, F16Lanes.self, accRest, srcRest, byteCount: bytes)
            } else {
                combineLanes32(op, BF16Lanes.self, accRest, srcRest, byteCount: bytes)
            }
        case .f64: combineF64(op, acc, src, count: count)
        case .i32: combineIntegers(op, Int32.self, acc, src, count: count)
        case .i64: combineIntegers(op, Int64.self, acc, src, count: count)
        case .u32: combineIntegers(op, UInt32.self, acc, src, count: count)
        case .u64: combineIntegers(op, UInt64.self, acc, src, count: count)
        case .i8: combineIntegers(op, Int8.self, acc, src, count: count)
        case .u8: combineIntegers(op, UInt8.self, acc, src, count: count)
        }
    }

    /// The plain scalar reference: one element at a time, no SIMD, written straight from the semantics above.
    /// Tests check `combine` against it; it is deliberately independent code (it uses `Float16` arithmetic and
    /// `BFloat16(Float)` rather than the vector kernels' own conversions).
    public static func combineReference(
        _ op: ReduceOp, _ dtype: DType, into acc: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int
    ) {
        precondition(count >= 0, "negative element count \(count)")
        precondition(op.supports(dtype), "\(op) is not defined for \(dtype)")
        switch dtype {
        case .f32:
            referenceLoop(acc, src, count, UInt32.self) {
                referenceFloat(op, Float(bitPattern: $0), Float(bitPattern: $1)).bitPattern
            }
        case .f64:
            referenceLoop(acc, src, count, UInt64.self) {
                referenceFloat(op, Double(bitPattern: $0), Double(bitPattern: $1)).bitPattern
            }
        case .f16:
            referenceLoop(acc, src, count, UInt16.self) { referenceHalf(op, $0, $1) }
        case .bf16:
            referenceLoop(acc, src, count, UInt16.self) {
                let a = BFloat16(bitPattern: $0).floatValue, s = BFloat16(bitPattern: $1).floatValue
                return BFloat16(referenceFloat(op, a, s)).bitPattern
            }
        case .i32: referenceLoop(acc, src, count, Int32.self) { referenceInteger(op, $0, $1) }
        case .i64: referenceLoop(acc, src, count, Int64.self) { referenceInteger(op, $0, $1) }
        case .u32: referenceLoop(acc, src, count, UInt32.self) { referenceInteger(op, $0, $1) }
        case .u64: referenceLoop(acc, src, count, UInt64.self) { referenceInteger(op, $0, $1) }
        case .i8: referenceLoop(acc, src, count, Int8.self) { referenceInteger(op, $0, $1) }
        case .u8: referenceLoop(acc, src, count, UInt8.self) { referenceInteger(op, $0, $1) }
        }
    }

    /// The exact `Float` value of a binary16 bit pattern (portable: no `Float16`, which Intel macOS lacks).
    static func floatFromHalf(_ bits: UInt16) -> Float {
        F16Lanes.widen(U32V(repeating: UInt32(bits)), high: false)[0]
    }

    /// `f` rounded to binary16 (nearest, ties to even); NaN keeps its sign and top payload bits and is quieted.
    static func halfFromFloat(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000 | (bits >> 13) & 0x3FF) | 0x7E00 }
        return UInt16(truncatingIfNeeded: F16Lanes.narrow(F32V(repeating: f), high: false)[0])
    }
}

// MARK: - Vector kernels

extension Reduction {
    typealias U32V = SIMD16<UInt32>
    typealias I32V = SIMD16<Int32>
    typealias F32V = SIMD16<Float>
    typealias U64V = SIMD8<UInt64>
    typealias F64V = SIMD8<Double>

    /// Runs `kernel` over 64-byte vectors, then once more over a zero-padded copy of the tail, so short and odd
    /// lengths go through the very same lane code as long ones (no separate scalar tail to keep in sync).
    /// Loads are unaligned-safe: buffers are only aligned for their element type.
    @inline(__always)
    private static func vectorLoop<V: SIMD>(
        _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, byteCount: Int, _ kernel: (V, V) -> V
    ) {
        let step = MemoryLayout<V>.size
        var offset = 0
        while byteCount &- offset >= step {
            let a = acc.loadUnaligned(fromByteOffset: offset, as: V.self)
            let s = src.loadUnaligned(fromByteOffset: offset, as: V.self)
            acc.storeBytes(of: kernel(a, s), toByteOffset: offset, as: V.self)
            offset &+= step
        }
        let rest = byteCount &- offset
        if rest > 0 {
            var a = V()
            var s = V()
            withUnsafeMutableBytes(of: &a) { $0.baseAddress!.copyMemory(from: acc + offset, byteCount: rest) }
            withUnsafeMutableBytes(of: &s) { $0.baseAddress!.copyMemory(from: src + offset, byteCount: rest) }
            let r = kernel(a, s)
            withUnsafeBytes(of: r) { (acc + offset).copyMemory(from: $0.baseAddress!, byteCount: rest) }
        }
    }

    /// All ones in lanes where `x < limit`, zeros elsewhere, for `x` and `limit` below 2^31: the sign of the
    /// difference decides. Masks made by integer arithmetic and `blend` compile to plain vector code, whereas
    /// comparisons feeding `replace(with:where:)` were partly lowered lane by lane in the 16-bit kernels.
    @inline(__always)
    private static func below(_ x: U32V, _ limit: UInt32) -> U32V {
        unsafeBitCast(unsafeBitCast(x &- limit, to: I32V.self) &>> 31, to: U32V.self)
    }

    /// `ifSet` where `mask` lanes are all ones, `otherwise` where they are all zeros.
    @inline(__always)
    private static func blend(_ mask: U32V, _ ifSet: U32V, _ otherwise: U32V) -> U32V {
        (ifSet & mask) | (otherwise & ~mask)
    }

    /// A float format processed as one element per 32-bit lane, widened exactly to `Float` for the arithmetic.
    /// 16-bit formats are processed as two interleaved vectors: the element in the low half of every 32-bit word,
    /// then the one in the high half (`high`), so everything stays lane-wise on 32-bit lanes with no shuffles.
    /// Which half holds the even element depends on endianness, but the kernels treat both alike.
    private protocol Lanes32 {
        /// Elements per 32-bit word: 1 for f32, 2 for the 16-bit formats.
        static var perWord: Int { get }
        /// The quiet bit and the canonical NaN of an element at bit 0.
        static var quietBit: UInt32 { get }
        static var canonicalNaN: UInt32 { get }
        /// The element in the low (or `high`) half of each word as an exact `Float`; ±∞ stays ±∞, NaN stays NaN.
        static func widen(_ words: U32V, high: Bool) -> F32V
        /// `value` rounded to the format (nearest, ties to even; overflow to ±∞), placed in the low (or `high`)
        /// half of each word. Bits of the other half, and lanes whose value is NaN, are unspecified.
        static func narrow(_ value: F32V, high: Bool) -> U32V
    }

    private enum F32Lanes: Lanes32 {
        static var perWord: Int { 1 }
        static var quietBit: UInt32 { 0x0040_0000 }
        static var canonicalNaN: UInt32 { 0x7FC0_0000 }
        @inline(__always) static func widen(_ words: U32V, high: Bool) -> F32V {
            unsafeBitCast(words, to: F32V.self)
        }
        @inline(__always) static func narrow(_ value: F32V, high: Bool) -> U32V {
            unsafeBitCast(value, to: U32V.self)
        }
    }

    private enum BF16Lanes: Lanes32 {
        static var perWord: Int { 2 }
        static var quietBit: UInt32 { 0x0040 }
        static var canonicalNaN: UInt32 { 0x7FC0 }
        @inline(__always) static func widen(_ words: U32V, high: Bool) -> F32V {
            unsafeBitCast(high ? words & 0xFFFF_0000 : words &<< 16, to: F32V.self)
        }
        /// Same rounding as `BFloat16(Float)`: add 0x7FFF plus the lowest kept bit, keep the top half.
        @inline(__always) static func narrow(_ value: F32V, high: Bool) -> U32V {
            let bits = unsafeBitCast(value, to: U32V.self)
            let rounded = bits &+ 0x7FFF &+ ((bits &>> 16) & 1)
            return high ? rounded : rounded &>> 16
        }
    }

    private enum F16Lanes: Lanes32 {
        static var perWord: Int { 2 }
        static var quietBit: UInt32 { 0x0200 }
        static var canonicalNaN: UInt32 { 0x7E00 }

        /// Moves exponent and fraction into binary32 position and rescales by 2^112 — exact, being a power of two,
        /// and binary16 subnormals become binary32 normals. ∞/NaN (and only they) land at 2^16 or above and get
        /// the all-ones exponent, keeping the payload.
        @inline(__always) static func widen(_ words: U32V, high: Bool) -> F32V {
            let sign = high ? words & 0x8000_0000 : (words &<< 16) & 0x8000_0000
            let shifted = high ? (words &>> 3) & 0x0FFF_E000 : (words &<< 13) & 0x0FFF_E000
            let scaled = unsafeBitCast(shifted, to: F32V.self) * F32V(repeating: 0x1p112)
            let infNaN = ~below(shifted, 0x0F80_0000) & 0x7F80_0000  // magnitude 0x7C00 and up
            return unsafeBitCast(unsafeBitCast(scaled, to: U32V.self) | infNaN | sign, to: F32V.self)
        }

        /// Branch-free binary32 → binary16 (after M. Maratyszcza's FP16 library, `fp16_ieee_from_fp32_value`):
        /// adding 2^(e+15) to |x|·4, where e is x's exponent clamped to the binary16 minimum −14, makes the FPU's
        /// own round-to-nearest-even round at binary16 precision, normal or subnormal; the rounded sum's bits then
        /// hold the binary16 exponent and fraction (a carry from rounding correctly bumps the exponent). The
        /// ·2^112·2^-110 scaling turns magnitudes of 2^16 and above into ∞ first.
        @inline(__always) static func narrow(_ value: F32V, high: Bool) -> U32V {
            let bits = unsafeBitCast(value, to: U32V.self)
            let magnitude = unsafeBitCast(bits & 0x7FFF_FFFF, to: F32V.self)
            let scaled = magnitude * F32V(repeating: 0x1p112) * F32V(repeating: 0x1p-110)
            let exponent = bits & 0x7F80_0000
            let bias = blend(below(exponent, 0x3880_0000), U32V(repeating: 0x3880_0000), exponent)  // 2^max(e, -14)
            let magic = unsafeBitCast(bias &+ 0x0780_0000, to: F32V.self)
            let rounded = unsafeBitCast(magic + scaled, to: U32V.self)
            let half = ((rounded &>> 13) & 0x7C00) &+ (rounded & 0x0FFF) | ((bits &>> 16) & 0x8000)
            return high ? half &<< 16 : half
        }
    }

    /// Arithmetic (`sum`, `prod`) on one vector of lanes, with the explicit NaN rules. `op` only ever yields a
    /// NaN when an operand is NaN or the operation is invalid, so one cheap "any NaN?" test keeps the fix-up
    /// off the common path.
    @inline(__always)
    private static func arithmetic<L: Lanes32>(
        _: L.Type, _ a: U32V, _ s: U32V, high: Bool, _ op: (F32V, F32V) -> F32V
    ) -> U32V {
        let af = L.widen(a, high: high)
        let sf = L.widen(s, high: high)
        let r = op(af, sf)
        var out = L.narrow(r, high: high)
        let resultNaN = r .!= r
        if any(resultNaN) {
            let shift: UInt32 = high ? 16 : 0
            out.replace(with: L.canonicalNaN &<< shift, where: resultNaN)
            out.replace(with: s | (L.quietBit &<< shift), where: sf .!= sf)
            out.replace(with: a | (L.quietBit &<< shift), where: af .!= af)
        }
        return out
    }

    /// IEEE 754-2019 minimum/maximum on one vector of lanes, selecting operand bit patterns (never re-rounding).
    /// For equal operands the bitwise OR (AND) of the patterns picks −0 (+0), and is the identity otherwise.
    @inline(__always)
    private static func minMax<L: Lanes32>(_: L.Type, _ a: U32V, _ s: U32V, high: Bool, isMin: Bool) -> U32V {
        let af = L.widen(a, high: high)
        let sf = L.widen(s, high: high)
        var out = s
        if isMin {
            out.replace(with: a | s, where: af .== sf)
            out.replace(with: a, where: af .< sf)
        } else {
            out.replace(with: a & s, where: af .== sf)
            out.replace(with: a, where: af .> sf)
        }
        let aNaN = af .!= af
        let sNaN = sf .!= sf
        if any(aNaN .| sNaN) {
            let quiet = L.quietBit &<< (high ? 16 : 0)
            out.replace(with: s | quiet, where: sNaN)
            out.replace(with: a | quiet, where: aNaN)
        }
        return out
    }

    /// Applies `lanes` (given words and `high`) to a buffer of a 32- or 16-bit float format; for 16-bit formats
    /// the low-half and high-half results are merged back into words.
    @inline(__always)
    private static func runLanes32<L: Lanes32>(
        _: L.Type, _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, byteCount: Int,
        _ lanes: (U32V, U32V, Bool) -> U32V
    ) {
        if L.perWord == 1 {
            vectorLoop(acc, src, byteCount: byteCount) { (a: U32V, s: U32V) in lanes(a, s, false) }
        } else {
            vectorLoop(acc, src, byteCount: byteCount) { (a: U32V, s: U32V) -> U32V in
                (lanes(a, s, false) & 0xFFFF) | (lanes(a, s, true) & 0xFFFF_0000)
            }
        }
    }

    @inline(__always)
    private static func combineLanes32<L: Lanes32>(
        _ op: ReduceOp, _ format: L.Type, _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, byteCount: Int
    ) {
        switch op {
        case .sum:
            runLanes32(format, acc, src, byteCount: byteCount) { arithmetic(format, $0, $1, high: $2) { $0 + $1 } }
        case .prod:
            runLanes32(format, acc, src, byteCount: byteCount) { arithmetic(format, $0, $1, high: $2) { $0 * $1 } }
        case .min:
            runLanes32(format, acc, src, byteCount: byteCount) { minMax(format, $0, $1, high: $2, isMin: true) }
        case .max:
            runLanes32(format, acc, src, byteCount: byteCount) { minMax(format, $0, $1, high: $2, isMin: false) }
        case .band, .bor, .bxor: preconditionFailure("\(op) is not defined for floating point")
        }
    }

    /// binary64 version of `arithmetic`/`minMax` (kept separate: 64-bit lanes, no widening).
    private static func combineF64(
        _ op: ReduceOp, _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, count: Int
    ) {
        let quiet: UInt64 = 0x0008_0000_0000_0000
        let canonicalNaN: UInt64 = 0x7FF8_0000_0000_0000
        @inline(__always)
        func arithmetic(_ a: U64V, _ s: U64V, _ op: (F64V, F64V) -> F64V) -> U64V {
            let af = unsafeBitCast(a, to: F64V.self)
            let sf = unsafeBitCast(s, to: F64V.self)
            let r = op(af, sf)
            var out = unsafeBitCast(r, to: U64V.self)
            let resultNaN = r .!= r
            if any(resultNaN) {
                out.replace(with: canonicalNaN, where: resultNaN)
                out.replace(with: s | quiet, where: sf .!= sf)
                out.replace(with: a | quiet, where: af .!= af)
            }
            return out
        }
        @inline(__always)
        func minMax(_ a: U64V, _ s: U64V, isMin: Bool) -> U64V {
            let af = unsafeBitCast(a, to: F64V.self)
            let sf = unsafeBitCast(s, to: F64V.self)
            var out = s
            if isMin {
                out.replace(with: a | s, where: af .== sf)
                out.replace(with: a, where: af .< sf)
            } else {
                out.replace(with: a & s, where: af .== sf)
                out.replace(with: a, where: af .> sf)
            }
            let aNaN = af .!= af
            let sNaN = sf .!= sf
            if any(aNaN .| sNaN) {
                out.replace(with: s | quiet, where: sNaN)
                out.replace(with: a | quiet, where: aNaN)
            }
            return out
        }
        let bytes = count &* 8
        switch op {
        case .sum: vectorLoop(acc, src, byteCount: bytes) { (a: U64V, s: U64V) in arithmetic(a, s) { $0 + $1 } }
        case .prod: vectorLoop(acc, src, byteCount: bytes) { (a: U64V, s: U64V) in arithmetic(a, s) { $0 * $1 } }
        case .min: vectorLoop(acc, src, byteCount: bytes) { (a: U64V, s: U64V) in minMax(a, s, isMin: true) }
        case .max: vectorLoop(acc, src, byteCount: bytes) { (a: U64V, s: U64V) in minMax(a, s, isMin: false) }
        case .band, .bor, .bxor: preconditionFailure("\(op) is not defined for floating point")
        }
    }

    /// Integer kernels are plain loops over raw loads: once specialised for `T` they are simple enough for the
    /// optimiser's loop vectoriser (wrapping arithmetic, selects, bit operations — no traps, no branches).
    @inline(__always)
    private static func integerLoop<T: FixedWidthInteger>(
        _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, count: Int, _ f: (T, T) -> T
    ) {
        let size = MemoryLayout<T>.size
        let end = count &* size
        var offset = 0
        while offset < end {
            let r = f(acc.load(fromByteOffset: offset, as: T.self), src.load(fromByteOffset: offset, as: T.self))
            acc.storeBytes(of: r, toByteOffset: offset, as: T.self)
            offset &+= size
        }
    }

    private static func combineIntegers<T: FixedWidthInteger>(
        _ op: ReduceOp, _: T.Type, _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, count: Int
    ) {
        switch op {
        case .sum: integerLoop(acc, src, count: count) { (a: T, b: T) in a &+ b }
        case .prod: integerLoop(acc, src, count: count) { (a: T, b: T) in a &* b }
        case .min: integerLoop(acc, src, count: count) { (a: T, b: T) in b < a ? b : a }
        case .max: integerLoop(acc, src, count: count) { (a: T, b: T) in b > a ? b : a }
        case .band: integerLoop(acc, src, count: count) { (a: T, b: T) in a & b }
        case .bor: integerLoop(acc, src, count: count) { (a: T, b: T) in a | b }
        case .bxor: integerLoop(acc, src, count: count) { (a: T, b: T) in a ^ b }
        }
    }
}

// MARK: - Scalar reference

extension Reduction {
    private static func referenceLoop<T>(
        _ acc: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ count: Int, _: T.Type, _ f: (T, T) -> T
    ) {
        let size = MemoryLayout<T>.size
        for i in 0..<count {
            let a = acc.load(fromByteOffset: i * size, as: T.self)
            let s = src.load(fromByteOffset: i * size, as: T.self)
            acc.storeBytes(of: f(a, s), toByteOffset: i * size, as: T.self)
        }
    }

    private static func referenceInteger<T: FixedWidthInteger>(_ op: ReduceOp, _ a: T, _ s: T) -> T {
        switch op {
        case .sum: return a &+ s
        case .prod: return a &* s
        case .min: return Swift.min(a, s)
        case .max: return Swift.max(a, s)
        case .band: return a & s
        case .bor: return a | s
        case .bxor: return a ^ s
        }
    }

    /// `x` with its quiet bit (the top fraction bit) set; sign and payload unchanged.
    private static func quieted<T: BinaryFloatingPoint>(_ x: T) -> T {
        T(sign: x.sign, exponentBitPattern: x.exponentBitPattern,
          significandBitPattern: x.significandBitPattern | (1 << (T.significandBitCount - 1)))
    }

    private static func referenceFloat<T: BinaryFloatingPoint>(_ op: ReduceOp, _ a: T, _ s: T) -> T {
        if a.isNaN { return quieted(a) }
        if s.isNaN { return quieted(s) }
        switch op {
        case .sum:
            let r = a + s
            return r.isNaN ? T.nan : r
        case .prod:
            let r = a * s
            return r.isNaN ? T.nan : r
        case .min:
            if a < s { return a }
            if s < a { return s }
            return a.sign == .minus ? a : s
        case .max:
            if a > s { return a }
            if s > a { return s }
            return a.sign == .plus ? a : s
        case .band, .bor, .bxor:
            preconditionFailure("\(op) is not defined for floating point")
        }
    }

    private static func referenceHalf(_ op: ReduceOp, _ a: UInt16, _ s: UInt16) -> UInt16 {
        #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
        // No Float16 on Intel Macs: do the operation in Float and round once (the same bits, see the type doc).
        return halfFromFloat(referenceFloat(op, floatFromHalf(a), floatFromHalf(s)))
        #else
        return referenceFloat(op, Float16(bitPattern: a), Float16(bitPattern: s)).bitPattern
        #endif
    }
}
