import Testing
import TributaryCore

/// `Reduction.combine` must give exactly the bits of the scalar reference for every dtype, op, length and operand
/// class; and the reference must implement the documented semantics (hand-checked cases below).
@Suite struct ReductionTests {
    static let lengths = [0, 1, 3, 7, 15, 16, 17, 31, 33, 1000, 4097]

    static var supportedPairs: [(DType, ReduceOp)] {
        DType.allCases.flatMap { dtype in ReduceOp.allCases.filter { $0.supports(dtype) }.map { (dtype, $0) } }
    }

    // MARK: combine == combineReference

    @Test(arguments: supportedPairs)
    func vectorMatchesReference(_ dtype: DType, _ op: ReduceOp) {
        let pool = Self.specialPool(dtype)
        let random = InputGenerator(seed: 42, specials: true)
        for length in Self.lengths {
            // Even positions walk through every (acc, src) pair of the special pool, odd ones are random values
            // (themselves ~1/64 specials), so each pair meets at varied lane positions.
            var acc = [UInt64](), src = [UInt64]()
            let randomA = random.array(.u64, rank: 0, count: length, as: UInt64.self)
            let randomS = random.array(.u64, rank: 1, count: length, as: UInt64.self)
            let randomFA = Self.generated(dtype, random, rank: 2, count: length)
            let randomFS = Self.generated(dtype, random, rank: 3, count: length)
            for i in 0..<length {
                if i % 2 == 0 {
                    let k = i / 2
                    acc.append(pool[k % pool.count])
                    src.append(pool[(k / pool.count + k) % pool.count])
                } else if i % 4 == 1 {
                    acc.append(randomFA[i])
                    src.append(randomFS[i])
                } else {
                    acc.append(randomA[i])
                    src.append(randomS[i])
                }
            }
            Self.expectSame(op, dtype, acc: acc, src: src, context: "length \(length)")
        }
    }

    /// Every ordered pair of special values, in one buffer (so every pair also lands in the vector body).
    @Test(arguments: supportedPairs)
    func allSpecialPairs(_ dtype: DType, _ op: ReduceOp) {
        let pool = Self.specialPool(dtype)
        let acc = pool.flatMap { a in pool.map { _ in a } }
        let src = pool.flatMap { _ in pool }
        Self.expectSame(op, dtype, acc: acc, src: src, context: "all pairs")
    }

    /// Buffers only aligned for the element type (not for the 64-byte vectors), and `acc` aliasing `src`.
    @Test(arguments: supportedPairs)
    func unalignedAndAliased(_ dtype: DType, _ op: ReduceOp) {
        let gen = InputGenerator(seed: 7, specials: true)
        let count = 301
        let a = Self.generated(dtype, gen, rank: 0, count: count)
        let s = Self.generated(dtype, gen, rank: 1, count: count)
        Self.expectSame(op, dtype, acc: a, src: s, context: "offset by one element", elementOffset: 1)
        Self.expectSame(op, dtype, acc: a, src: s, context: "offset by three elements", elementOffset: 3)

        let size = dtype.size
        let fast = KernelScratch(Self.bytes(dtype, a), extra: 0)
        let slow = KernelScratch(Self.bytes(dtype, a), extra: 0)
        Reduction.combine(op, dtype, into: fast.base, from: fast.base, count: count)
        Reduction.combineReference(op, dtype, into: slow.base, from: slow.base, count: count)
        #expect(fast.bytes(count * size) == slow.bytes(count * size), "aliased \(dtype) \(op)")
    }

    /// binary16 conversions checked exhaustively through the public API: `x + (-0) == x` and `x · 1 == x` for every
    /// pattern, plus every pattern against varied second operands (rounding, subnormal results, overflow).
    @Test(arguments: [DType.f16, .bf16])
    func allSixteenBitPatterns(_ dtype: DType) {
        let all = (0..<65536).map { UInt64($0) }
        let negativeZero = [UInt64](repeating: 0x8000, count: all.count)
        let one = [UInt64](repeating: dtype == .f16 ? 0x3C00 : 0x3F80, count: all.count)
        let scrambled = all.map { UInt64(UInt16(truncatingIfNeeded: $0 &* 40503 &+ 12345)) }
        for op in [ReduceOp.sum, .prod, .min, .max] {
            Self.expectSame(op, dtype, acc: all, src: negativeZero, context: "x ⊕ -0")
            Self.expectSame(op, dtype, acc: all, src: one, context: "x ⊕ 1")
            Self.expectSame(op, dtype, acc: all, src: scrambled, context: "x ⊕ scrambled")
            Self.expectSame(op, dtype, acc: scrambled, src: all, context: "scrambled ⊕ x")
        }
        // sum with -0 is the identity on every non-NaN pattern: widening and narrowing round-trip exactly.
        let result = Self.run(.sum, dtype, acc: all, src: negativeZero, reference: false)
        let isNaN: (UInt64) -> Bool = dtype == .f16 ? { $0 & 0x7FFF > 0x7C00 } : { $0 & 0x7FFF > 0x7F80 }
        let roundTrips = zip(all, result).allSatisfy { isNaN($0) || $0 == $1 }
        #expect(roundTrips)
    }

    /// Many random pairs of f32/f64 near the interesting ranges (subnormal results, overflow, cancellation).
    @Test(arguments: [DType.f32, .f64])
    func randomWideFloats(_ dtype: DType) {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let count = 20000
        var acc = [UInt64](), src = [UInt64]()
        for _ in 0..<count {
            let h = next(), g = next()
            if dtype == .f32 {
                // Exponents clustered at the bottom and top of the range.
                let ea = UInt64([0, 1, 2, 20, 127, 240, 253, 254][Int(h >> 61)])
                let eb = UInt64([0, 1, 3, 25, 127, 200, 253, 254][Int(g >> 61)])
                acc.append((h & 0x8000_0000) | (ea << 23) | (h >> 9 & 0x7F_FFFF))
                src.append((g & 0x8000_0000) | (eb << 23) | (g >> 9 & 0x7F_FFFF))
            } else {
                let ea = UInt64([0, 1, 2, 50, 1023, 1900, 2045, 2046][Int(h >> 61)])
                let eb = UInt64([0, 1, 3, 60, 1023, 1500, 2045, 2046][Int(g >> 61)])
                acc.append((h << 63) | (ea << 52) | (next() & 0xF_FFFF_FFFF_FFFF))
                src.append((g << 63) | (eb << 52) | (next() & 0xF_FFFF_FFFF_FFFF))
            }
        }
        for op in [ReduceOp.sum, .prod, .min, .max] {
            Self.expectSame(op, dtype, acc: acc, src: src, context: "random")
        }
    }

    /// The kernels never write past `count` elements (the tail is processed in a padded copy).
    @Test(arguments: supportedPairs)
    func writesNothingPastCount(_ dtype: DType, _ op: ReduceOp) {
        for count in [0, 1, 5, 17, 63, 65] {
            let guardBytes = 80
            let size = dtype.size
            let acc = KernelScratch([UInt8](repeating: 0x3C, count: count * size), extra: guardBytes, fill: 0xA5)
            let src = KernelScratch([UInt8](repeating: 0x3C, count: count * size), extra: guardBytes, fill: 0x5A)
            Reduction.combine(op, dtype, into: acc.base, from: src.base, count: count)
            let tail = acc.bytes(count * size + guardBytes).suffix(guardBytes)
            #expect(tail.allSatisfy { $0 == 0xA5 }, "\(dtype) \(op) count \(count) wrote past the end")
        }
    }

    // MARK: Hand-checked semantics

    @Test func floatMinMaxSignedZeros() {
        for (dtype, neg, pos) in [(DType.f32, UInt64(0x8000_0000), UInt64(0)), (.f64, 1 << 63, 0),
                                  (.f16, 0x8000, 0), (.bf16, 0x8000, 0)] {
            #expect(Self.one(.min, dtype, neg, pos) == neg, "\(dtype) min(-0, +0)")
            #expect(Self.one(.min, dtype, pos, neg) == neg, "\(dtype) min(+0, -0)")
            #expect(Self.one(.max, dtype, neg, pos) == pos, "\(dtype) max(-0, +0)")
            #expect(Self.one(.max, dtype, pos, neg) == pos, "\(dtype) max(+0, -0)")
            #expect(Self.one(.min, dtype, neg, neg) == neg)
            #expect(Self.one(.max, dtype, pos, pos) == pos)
        }
    }

    @Test func floatNaNPropagation() {
        // f32: NaN_a = 0x7fc00123, NaN_b = 0xffc00456 (both quiet), 1.0 = 0x3f800000.
        let nanA: UInt64 = 0x7FC0_0123, nanB: UInt64 = 0xFFC0_0456, one: UInt64 = 0x3F80_0000
        for op in [ReduceOp.sum, .prod, .min, .max] {
            #expect(Self.one(op, .f32, nanA, one) == nanA, "\(op)(NaN_a, 1)")
            #expect(Self.one(op, .f32, one, nanB) == nanB, "\(op)(1, NaN_b)")
            #expect(Self.one(op, .f32, nanA, nanB) == nanA, "\(op)(NaN_a, NaN_b)")
            #expect(Self.one(op, .f32, nanB, nanA) == nanB, "\(op)(NaN_b, NaN_a)")
            // A signalling NaN is quieted, keeping sign and payload.
            #expect(Self.one(op, .f32, 0xFF80_0001, one) == 0xFFC0_0001, "\(op)(sNaN, 1)")
            #expect(Self.one(op, .f32, one, 0x7FA0_0000) == 0x7FE0_0000, "\(op)(1, sNaN)")
            #expect(Self.one(op, .f32, 0x7F80_0001, nanB) == 0x7FC0_0001, "\(op)(sNaN, NaN_b)")
        }
        // f64, f16, bf16: acc's NaN wins.
        #expect(Self.one(.sum, .f64, 0x7FF8_0000_0000_0007, 0xFFF8_0000_0000_0009) == 0x7FF8_0000_0000_0007)
        #expect(Self.one(.max, .f64, 0x3FF0_0000_0000_0000, 0xFFF0_0000_0000_0001) == 0xFFF8_0000_0000_0001)
        #expect(Self.one(.sum, .f16, 0x7E01, 0xFE02) == 0x7E01)
        #expect(Self.one(.min, .f16, 0x3C00, 0xFC01) == 0xFE01)
        #expect(Self.one(.sum, .bf16, 0xFFC1, 0x7FC2) == 0xFFC1)
        #expect(Self.one(.max, .bf16, 0x7F81, 0x3F80) == 0x7FC1)
    }

    @Test func invalidOperationsGiveCanonicalNaN() {
        #expect(Self.one(.sum, .f32, 0x7F80_0000, 0xFF80_0000) == 0x7FC0_0000)  // ∞ + -∞
        #expect(Self.one(.prod, .f32, 0x8000_0000, 0x7F80_0000) == 0x7FC0_0000)  // -0 · ∞
        #expect(Self.one(.sum, .f64, 0xFFF0_0000_0000_0000, 0x7FF0_0000_0000_0000) == 0x7FF8_0000_0000_0000)
        #expect(Self.one(.prod, .f16, 0x7C00, 0x0000) == 0x7E00)
        #expect(Self.one(.sum, .bf16, 0xFF80, 0x7F80) == 0x7FC0)
    }

    @Test func floatArithmeticIsAccFirstIEEE() {
        #expect(Self.one(.sum, .f32, 0x3F80_0000, 0x4000_0000) == 0x4040_0000)  // 1 + 2 = 3
        #expect(Self.one(.prod, .f64, 0x3FF8_0000_0000_0000, 0xC000_0000_0000_0000) == 0xC008_0000_0000_0000)
        #expect(Self.one(.sum, .f32, 0x7F7F_FFFF, 0x7F7F_FFFF) == 0x7F80_0000)  // overflow to ∞
        #expect(Self.one(.sum, .f32, 0x3F80_0000, 0xBF80_0000) == 0)  // 1 + -1 = +0
        #expect(Self.one(.sum, .f32, 0x8000_0000, 0x8000_0000) == 0x8000_0000)  // -0 + -0 = -0
        #expect(Self.one(.sum, .f32, 1, 1) == 2)  // subnormals
        // f16: 65504 + 16 is a tie between 65504 (odd) and 65536: rounds to even, i.e. overflows to ∞.
        #expect(Self.one(.sum, .f16, 0x7BFF, 0x4C00) == 0x7C00)
        #expect(Self.one(.sum, .f16, 0x0001, 0x0001) == 0x0002)  // subnormal
        #expect(Self.one(.prod, .f16, 0x3C00, 0x3800) == 0x3800)  // 1 · 0.5
        // f16: 1 + 2^-11 is a tie → 1 (even); (1 + 2^-10) + 2^-11 is a tie → 1 + 2^-9 (even).
        #expect(Self.one(.sum, .f16, 0x3C00, 0x1000) == 0x3C00)
        #expect(Self.one(.sum, .f16, 0x3C01, 0x1000) == 0x3C02)
    }

    @Test func bfloat16RoundsTiesToEven() {
        // 1 + 2^-8 = 0x3f808000 as f32: halfway between 0x3f80 and 0x3f81 → 0x3f80 (even).
        #expect(Self.one(.sum, .bf16, 0x3F80, 0x3B80) == 0x3F80)
        // 0x3f81 + 2^-8 = 0x3f818000: halfway between 0x3f81 and 0x3f82 → 0x3f82 (even).
        #expect(Self.one(.sum, .bf16, 0x3F81, 0x3B80) == 0x3F82)
        // 1 + 3·2^-9: above halfway → rounds up.
        #expect(Self.one(.sum, .bf16, 0x3F80, 0x3BC0) == 0x3F81)
        #expect(Self.one(.sum, .bf16, 0x7F7F, 0x7F7F) == 0x7F80)  // overflow to ∞
        #expect(Self.one(.max, .bf16, 0x3F80, 0x4000) == 0x4000)
        #expect(Self.one(.min, .bf16, 0xBF80, 0x4000) == 0xBF80)
    }

    @Test func integerSemantics() {
        #expect(Self.one(.sum, .i32, 0x7FFF_FFFF, 1) == 0x8000_0000)  // Int32.max + 1 wraps to Int32.min
        #expect(Self.one(.sum, .u32, 0xFFFF_FFFF, 2) == 1)
        #expect(Self.one(.prod, .u8, 16, 16) == 0)
        #expect(Self.one(.prod, .i8, 0x80, 0xFF) == 0x80)  // -128 · -1 wraps to -128
        #expect(Self.one(.prod, .i64, 1 << 62, 4) == 0)
        #expect(Self.one(.min, .i8, 0xFF, 1) == 0xFF)  // -1 < 1
        #expect(Self.one(.min, .u8, 0xFF, 1) == 1)
        #expect(Self.one(.max, .i64, 1 << 63, 0) == 0)
        #expect(Self.one(.max, .u64, 1 << 63, 0) == 1 << 63)
        #expect(Self.one(.band, .u32, 0xF0F0, 0xFF00) == 0xF000)
        #expect(Self.one(.bor, .i8, 0x0F, 0xF0) == 0xFF)
        #expect(Self.one(.bxor, .u64, 0xFFFF, 0x0FF0) == 0xF00F)
    }

    // MARK: DTypeValues

    @Test func firstDifferenceFindsTheElement() {
        let a: [UInt32] = (0..<100).map { $0 &* 2_654_435_761 }
        var b = a
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in #expect(DType.f32.firstDifference(ra, rb) == nil) }
        }
        for index in [0, 1, 2, 37, 99] {
            b = a
            b[index] ^= 0x0100_0000  // one bit in the element's top byte
            a.withUnsafeBytes { ra in
                b.withUnsafeBytes { rb in
                    #expect(DType.f32.firstDifference(ra, rb) == index)
                    #expect(DType.u8.firstDifference(ra, rb) == index * 4 + 3)
                    #expect(DType.f64.firstDifference(ra, rb) == index / 2)
                }
            }
        }
        // -0 vs +0 and different NaN payloads are differences; a shorter buffer differs at its end.
        let zeros: [UInt32] = [0, 0x8000_0000], nans: [UInt32] = [0x7FC0_0000, 0x7FC0_0001]
        zeros.withUnsafeBytes { z in
            nans.withUnsafeBytes { n in
                #expect(DType.f32.firstDifference(z, UnsafeRawBufferPointer(rebasing: z.prefix(4))) == 1)
                #expect(DType.f32.firstDifference(n, UnsafeRawBufferPointer(rebasing: n.prefix(4))) == 1)
                #expect(DType.f32.firstDifference(z, n) == 0)
            }
        }
    }

    @Test func formatShowsValueAndBits() {
        func show<T>(_ value: T, _ dtype: DType) -> String {
            withUnsafeBytes(of: value) { dtype.format($0.baseAddress!, index: 0) }
        }
        #expect(show(Float(1.5), .f32) == "1.5 (0x3fc00000)")
        #expect(show(-2.0, .f64) == "-2.0 (0xc000000000000000)")
        #expect(show(UInt16(0x3C00), .f16) == "1.0 (0x3c00)")
        #expect(show(UInt16(0x3FC0), .bf16) == "1.5 (0x3fc0)")
        #expect(show(Int32(-7), .i32) == "-7 (0xfffffff9)")
        #expect(show(UInt8(200), .u8) == "200 (0xc8)")
        #expect(show(Int8(-1), .i8) == "-1 (0xff)")
        #expect(show(UInt64(5), .u64) == "5 (0x0000000000000005)")
        #expect(show(UInt32(0x7FC0_0001), .f32).hasSuffix("(0x7fc00001)"))
        let values: [UInt16] = [0x1111, 0x2222, 0x3C00]
        values.withUnsafeBytes { #expect(DType.f16.format($0.baseAddress!, index: 2) == "1.0 (0x3c00)") }
    }

    // MARK: Helpers

    /// Special bit patterns per dtype: NaNs (quiet/signalling, both signs, varied payloads), ±0, ±∞,
    /// subnormals, extreme finite values, a few ordinary values; integer extremes.
    static func specialPool(_ dtype: DType) -> [UInt64] {
        switch dtype {
        case .f32:
            return [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7FC0_0001, 0xFFC1_2345, 0x7F80_0001,
                    0xFFA0_0000, 0x0000_0001, 0x807F_FFFF, 0x0040_0000, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x0080_0000,
                    0x3F80_0000, 0xBF80_0000, 0x4049_0FDB]
        case .f64:
            return [0, 1 << 63, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000,
                    0x7FF8_0000_0000_0001, 0xFFF8_1234_5678_9ABC, 0x7FF0_0000_0000_0001, 0xFFF4_0000_0000_0000,
                    1, 0x800F_FFFF_FFFF_FFFF, 0x7FEF_FFFF_FFFF_FFFF, 0xFFEF_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000,
                    0x3FF0_0000_0000_0000, 0xBFF0_0000_0000_0000, 0x4009_21FB_5444_2D18]
        case .f16:
            return [0, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7E01, 0xFE55, 0x7C01, 0xFD00, 0x0001, 0x83FF, 0x0200,
                    0x7BFF, 0xFBFF, 0x0400, 0x3C00, 0xBC00, 0x4248]
        case .bf16:
            return [0, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7FC1, 0xFFE5, 0x7F81, 0xFFA0, 0x0001, 0x807F, 0x0040,
                    0x7F7F, 0xFF7F, 0x0080, 0x3F80, 0xBF80, 0x4049]
        case .i32, .u32:
            return [0, 1, 2, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0x1234_5678, 0xFFFF_0000]
        case .i64, .u64:
            return [0, 1, 2, ~0, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, (1 << 63) + 1, 0x1234_5678_9ABC_DEF0, 0xFFFF_FFFF]
        case .i8, .u8:
            return [0, 1, 2, 0xFF, 0x7F, 0x80, 0x81, 0x55, 0xF0]
        }
    }

    /// Generator output as bit patterns widened to UInt64 (for mixing with the special pool).
    static func generated(_ dtype: DType, _ gen: InputGenerator, rank: Int, count: Int) -> [UInt64] {
        switch dtype.size {
        case 1: return gen.array(dtype, rank: rank, count: count, as: UInt8.self).map { UInt64($0) }
        case 2: return gen.array(dtype, rank: rank, count: count, as: UInt16.self).map { UInt64($0) }
        case 4: return gen.array(dtype, rank: rank, count: count, as: UInt32.self).map { UInt64($0) }
        default: return gen.array(dtype, rank: rank, count: count, as: UInt64.self)
        }
    }

    /// Little-endian-independent packing: each pattern stored natively with the dtype's width.
    static func bytes(_ dtype: DType, _ patterns: [UInt64]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(patterns.count * dtype.size)
        for p in patterns {
            switch dtype.size {
            case 1: out.append(UInt8(truncatingIfNeeded: p))
            case 2: withUnsafeBytes(of: UInt16(truncatingIfNeeded: p)) { out.append(contentsOf: $0) }
            case 4: withUnsafeBytes(of: UInt32(truncatingIfNeeded: p)) { out.append(contentsOf: $0) }
            default: withUnsafeBytes(of: p) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    static func patterns(_ dtype: DType, _ bytes: [UInt8]) -> [UInt64] {
        bytes.withUnsafeBytes { raw in
            (0..<bytes.count / dtype.size).map { i in
                switch dtype.size {
                case 1: return UInt64(raw.load(fromByteOffset: i, as: UInt8.self))
                case 2: return UInt64(raw.load(fromByteOffset: i * 2, as: UInt16.self))
                case 4: return UInt64(raw.load(fromByteOffset: i * 4, as: UInt32.self))
                default: return raw.load(fromByteOffset: i * 8, as: UInt64.self)
                }
            }
        }
    }

    static func run(_ op: ReduceOp, _ dtype: DType, acc: [UInt64], src: [UInt64], reference: Bool,
                    elementOffset: Int = 0) -> [UInt64] {
        let a = KernelScratch(bytes(dtype, acc), extra: 0, offset: elementOffset * dtype.size)
        let s = KernelScratch(bytes(dtype, src), extra: 0, offset: elementOffset * dtype.size)
        if reference {
            Reduction.combineReference(op, dtype, into: a.base, from: s.base, count: acc.count)
        } else {
            Reduction.combine(op, dtype, into: a.base, from: s.base, count: acc.count)
        }
        return patterns(dtype, a.bytes(acc.count * dtype.size))
    }

    static func one(_ op: ReduceOp, _ dtype: DType, _ a: UInt64, _ s: UInt64) -> UInt64 {
        let fast = run(op, dtype, acc: [a], src: [s], reference: false)[0]
        let slow = run(op, dtype, acc: [a], src: [s], reference: true)[0]
        #expect(fast == slow, "\(dtype) \(op) combine \(hex(fast)) vs reference \(hex(slow))")
        return slow
    }

    static func expectSame(_ op: ReduceOp, _ dtype: DType, acc: [UInt64], src: [UInt64], context: String,
                           elementOffset: Int = 0) {
        let fast = run(op, dtype, acc: acc, src: src, reference: false, elementOffset: elementOffset)
        let slow = run(op, dtype, acc: acc, src: src, reference: true, elementOffset: elementOffset)
        guard let i = fast.indices.first(where: { fast[$0] != slow[$0] }) else { return }
        Issue.record("""
            \(dtype) \(op) \(context): element \(i) of \(acc.count): \(hex(acc[i])) ⊕ \(hex(src[i])) \
            = \(hex(fast[i])) (combine) vs \(hex(slow[i])) (reference)
            """)
    }

    static func hex(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }
}

/// A 64-byte-aligned scratch buffer (plus an optional element offset to break vector alignment, and guard bytes).
private final class KernelScratch {
    let raw: UnsafeMutableRawPointer
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(_ contents: [UInt8], extra: Int, offset: Int = 0, fill: UInt8 = 0) {
        capacity = offset + contents.count + extra
        raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(capacity, 1), alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: fill, count: Swift.max(capacity, 1))
        base = raw + offset
        contents.withUnsafeBytes { if let p = $0.baseAddress { base.copyMemory(from: p, byteCount: $0.count) } }
    }

    func bytes(_ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    deinit { raw.deallocate() }
}
