import Foundation
import Testing
@testable import TributaryCore

/// Both implementations of the `f16`/`bf16` kernels — portable Swift and F16C + AVX2 — must give exactly the
/// scalar reference's bits on every special value, at every position in a vector block and in the tails.
/// (ReductionTests covers the selected path too; here each path is run explicitly.)
@Suite struct HalfPrecisionKernelsTests {
    static let lengths = [0, 1, 7, 15, 16, 17, 1000, 65537]

    static let cases: [(DType, ReduceOp)] = [DType.f16, .bf16].flatMap { dtype in
        [ReduceOp.sum, .prod, .min, .max].map { (dtype, $0) }
    }

    // MARK: Portable path

    @Test(arguments: cases)
    func portableSpecialPairs(_ dtype: DType, _ op: ReduceOp) {
        Self.checkSpecialPairs(op, dtype, .portable)
    }

    @Test(arguments: cases)
    func portableRandomSweep(_ dtype: DType, _ op: ReduceOp) {
        Self.checkRandomSweep(op, dtype, .portable)
    }

    @Test(arguments: cases)
    func portableAllPatterns(_ dtype: DType, _ op: ReduceOp) {
        Self.checkAllPatterns(op, dtype, .portable)
    }

    // MARK: Hardware path

    static let hardwareReason: Comment = "this CPU lacks AVX2 or F16C: the hardware half-precision kernels cannot run"

    @Test(.enabled(if: HalfPrecisionKernels.hardwareAvailable, hardwareReason), arguments: cases)
    func hardwareSpecialPairs(_ dtype: DType, _ op: ReduceOp) {
        Self.checkSpecialPairs(op, dtype, .hardware)
    }

    @Test(.enabled(if: HalfPrecisionKernels.hardwareAvailable, hardwareReason), arguments: cases)
    func hardwareRandomSweep(_ dtype: DType, _ op: ReduceOp) {
        Self.checkRandomSweep(op, dtype, .hardware)
    }

    @Test(.enabled(if: HalfPrecisionKernels.hardwareAvailable, hardwareReason), arguments: cases)
    func hardwareAllPatterns(_ dtype: DType, _ op: ReduceOp) {
        Self.checkAllPatterns(op, dtype, .hardware)
    }

    /// The hardware kernel really runs (whole blocks of 16), so the tests above do not pass on the portable tail.
    @Test(.enabled(if: HalfPrecisionKernels.hardwareAvailable, hardwareReason), arguments: cases)
    func hardwareProcessesWholeBlocks(_ dtype: DType, _ op: ReduceOp) {
        for length in Self.lengths {
            var done = -1
            let ones = [UInt16](repeating: dtype == .f16 ? 0x3C00 : 0x3F80, count: length)
            _ = Self.run(ones, ones) {
                done = HalfPrecisionKernels.combineBlocks(op, dtype, into: $0, from: $1, count: $2)
            }
            #expect(done == length / 16 * 16, "\(dtype) \(op) length \(length)")
        }
    }

    /// Unless `TRIBUTARY_PORTABLE_KERNELS=1`, `combine` uses the hardware kernels wherever they can run.
    @Test func selectionFollowsTheCPU() {
        let forced = ProcessInfo.processInfo.environment["TRIBUTARY_PORTABLE_KERNELS"] == "1"
        let expected: HalfPrecisionKernels = HalfPrecisionKernels.hardwareAvailable && !forced ? .hardware : .portable
        #expect(HalfPrecisionKernels.selected == expected)
    }

    // MARK: Checks

    /// Special bit patterns: NaNs of every kind (quiet and signalling, both signs, smallest and largest payloads,
    /// x86's negative default NaN), ±0, ±∞, the largest and smallest normals, subnormals, and operands whose sums
    /// or products are ties at the format's precision (ties to even, in both directions, and at overflow).
    static func specials(_ dtype: DType) -> [UInt16] {
        switch dtype {
        case .f16:
            return [0x7E00, 0xFE00, 0x7E01, 0xFFFF, 0x7FFF, 0x7C01, 0xFC01, 0x7D55, 0xFDFF, 0x7E55,  // NaNs
                    0x0000, 0x8000, 0x7C00, 0xFC00,  // ±0, ±∞
                    0x7BFF, 0xFBFF, 0x0400, 0x8400,  // largest and smallest normals
                    0x0001, 0x8001, 0x03FF, 0x83FF, 0x0200,  // subnormals
                    0x3C00, 0xBC00, 0x1000, 0x9000, 0x3C01, 0x4C00, 0x3800, 0x3E00, 0x0C00, 0x1400,  // ties
                    0x4248, 0xC248, 0x57D0]
        default:
            return [0x7FC0, 0xFFC0, 0x7FC1, 0xFFFF, 0x7FFF, 0x7F81, 0xFF81, 0x7FA5, 0xFFBF, 0x7FE5,  // NaNs
                    0x0000, 0x8000, 0x7F80, 0xFF80,  // ±0, ±∞
                    0x7F7F, 0xFF7F, 0x0080, 0x8080,  // largest and smallest normals
                    0x0001, 0x8001, 0x007F, 0x807F, 0x0040,  // subnormals
                    0x3F80, 0xBF80, 0x3B80, 0xBB80, 0x3F81, 0x3BC0, 0x3F00, 0x3FC0, 0x0100, 0x7F00,  // ties
                    0x4049, 0xC049, 0x42F6]
        }
    }

    /// Every ordered pair of specials, cycled through buffers of each length from several starting pairs, so each
    /// pair lands in vector blocks at varied lanes and in tails.
    static func checkSpecialPairs(_ op: ReduceOp, _ dtype: DType, _ path: HalfPrecisionKernels) {
        let pool = specials(dtype)
        let pairs = pool.flatMap { a in pool.map { s in (a, s) } }
        // All pairs in one buffer, then the same shifted by 1…16 so every pair meets every lane.
        for shift in 0...16 {
            let rotated = Array(pairs[shift...] + pairs[..<shift])
            expectSame(op, dtype, path, acc: rotated.map(\.0), src: rotated.map(\.1),
                       context: "all pairs, shift \(shift)")
        }
        for length in lengths {
            let picked = (0..<length).map { pairs[($0 &* 7 &+ length) % pairs.count] }
            expectSame(op, dtype, path, acc: picked.map(\.0), src: picked.map(\.1), context: "pairs, length \(length)")
        }
    }

    /// All 65 536 patterns as `acc`, each against a few second operands (−0, 1, and two scramblings of all
    /// patterns), so every NaN payload and every subnormal goes through both conversions.
    static func checkAllPatterns(_ op: ReduceOp, _ dtype: DType, _ path: HalfPrecisionKernels) {
        let all = (0...UInt16.max).map { $0 }
        let one: UInt16 = dtype == .f16 ? 0x3C00 : 0x3F80
        let seconds: [(String, [UInt16])] = [
            ("-0", [UInt16](repeating: 0x8000, count: all.count)), ("1", [UInt16](repeating: one, count: all.count)),
            ("scrambled", all.map { $0 &* 40503 &+ 12345 }), ("reversed", all.reversed().map { $0 ^ 0x0155 }),
        ]
        for (name, src) in seconds {
            expectSame(op, dtype, path, acc: all, src: src, context: "all patterns ⊕ \(name)")
            expectSame(op, dtype, path, acc: src, src: all, context: "\(name) ⊕ all patterns")
        }
    }

    /// Seeded random patterns: half of them arbitrary 16-bit words (so NaNs, infinities and subnormals of every
    /// kind turn up), a quarter from the specials, a quarter values near each other (cancellation, rounding).
    static func checkRandomSweep(_ op: ReduceOp, _ dtype: DType, _ path: HalfPrecisionKernels) {
        var state: UInt64 = dtype == .f16 ? 0x5EED_F160 : 0x5EED_BF16
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let pool = specials(dtype)
        for length in lengths {
            var acc = [UInt16](), src = [UInt16]()
            for _ in 0..<length {
                let h = next()
                let a = UInt16(truncatingIfNeeded: h), b = UInt16(truncatingIfNeeded: h >> 16)
                switch h >> 62 {
                case 0, 1: acc.append(a); src.append(b)
                case 2: acc.append(pool[Int(a) % pool.count]); src.append(pool[Int(b) % pool.count])
                default: acc.append(a); src.append(a ^ (b & 0x80FF))  // same exponent, either sign
                }
            }
            expectSame(op, dtype, path, acc: acc, src: src, context: "random, length \(length)")
        }
    }

    /// `combine` on `path` against `combineReference`, bit for bit; reports the first differing element.
    static func expectSame(_ op: ReduceOp, _ dtype: DType, _ path: HalfPrecisionKernels, acc: [UInt16], src: [UInt16],
                           context: String) {
        let fast = run(acc, src) { Reduction.combine(op, dtype, into: $0, from: $1, count: $2, halfPrecision: path) }
        let slow = run(acc, src) { Reduction.combineReference(op, dtype, into: $0, from: $1, count: $2) }
        guard let i = fast.indices.first(where: { fast[$0] != slow[$0] }) else { return }
        let wrong = fast.indices.filter { fast[$0] != slow[$0] }.count
        Issue.record("""
            \(dtype) \(op) \(path) \(context): \(wrong) wrong, first element \(i) of \(acc.count): \
            \(hex(acc[i])) ⊕ \(hex(src[i])) = \(hex(fast[i])) (combine) vs \(hex(slow[i])) (reference)
            """)
    }

    /// Runs `kernel(acc, src, count)` on copies of the patterns in buffers of exactly `count` elements, only
    /// 2-byte aligned (offset by one element from a 64-byte boundary); returns acc.
    static func run<R>(_ acc: [UInt16], _ src: [UInt16],
                       _ kernel: (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> R) -> [UInt16] {
        let a = UnsafeMutableRawPointer.allocate(byteCount: 2 * acc.count + 2, alignment: 64)
        let s = UnsafeMutableRawPointer.allocate(byteCount: 2 * src.count + 2, alignment: 64)
        defer {
            a.deallocate()
            s.deallocate()
        }
        acc.withUnsafeBytes { if let p = $0.baseAddress { (a + 2).copyMemory(from: p, byteCount: $0.count) } }
        src.withUnsafeBytes { if let p = $0.baseAddress { (s + 2).copyMemory(from: p, byteCount: $0.count) } }
        _ = kernel(a + 2, s + 2, acc.count)
        return (0..<acc.count).map { a.load(fromByteOffset: 2 + 2 * $0, as: UInt16.self) }
    }

    static func hex(_ x: UInt16) -> String { "0x" + String(x, radix: 16) }
}
