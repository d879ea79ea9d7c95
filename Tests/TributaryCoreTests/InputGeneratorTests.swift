import Testing
import TributaryCore

/// The generator must be indexable (any element computable on its own, anywhere) and produce the value classes
/// the validation relies on.
@Suite struct InputGeneratorTests {
    /// Raw element bytes for `[offset, offset + count)`.
    static func bytes(_ gen: InputGenerator, _ dtype: DType, rank: Int, offset: Int, count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count * dtype.size) { buffer, initialized in
            if count > 0 {
                let base = UnsafeMutableRawPointer(buffer.baseAddress!)
                gen.fill(dtype, rank: rank, offset: offset, count: count, into: base)
            }
            initialized = count * dtype.size
        }
    }

    @Test(arguments: DType.allCases, [false, true])
    func piecesMatchOneCall(_ dtype: DType, _ specials: Bool) {
        let gen = InputGenerator(seed: 0xDEAD_BEEF, specials: specials)
        let whole = Self.bytes(gen, dtype, rank: 3, offset: 0, count: 1000)
        var pieces = [UInt8]()
        for (start, end) in [(0, 1), (1, 7), (7, 300), (300, 301), (301, 1000)] {
            pieces += Self.bytes(gen, dtype, rank: 3, offset: start, count: end - start)
        }
        #expect(whole == pieces)
        // And an isolated element far into the buffer.
        let far = Self.bytes(gen, dtype, rank: 3, offset: 123_456_789, count: 3)
        let around = Self.bytes(gen, dtype, rank: 3, offset: 123_456_788, count: 5)
        #expect(Array(around[dtype.size..<(4 * dtype.size)]) == far)
    }

    @Test(arguments: DType.allCases)
    func ranksAndSeedsDiffer(_ dtype: DType) {
        let gen = InputGenerator(seed: 1)
        let count = 512
        let r0 = Self.bytes(gen, dtype, rank: 0, offset: 0, count: count)
        let r1 = Self.bytes(gen, dtype, rank: 1, offset: 0, count: count)
        let other = Self.bytes(InputGenerator(seed: 2), dtype, rank: 0, offset: 0, count: count)
        #expect(r0 == Self.bytes(gen, dtype, rank: 0, offset: 0, count: count), "deterministic")
        let size = dtype.size
        func differing(_ a: [UInt8], _ b: [UInt8]) -> Int {
            (0..<count).filter { a[($0 * size)..<(($0 + 1) * size)] != b[($0 * size)..<(($0 + 1) * size)] }.count
        }
        // 8-bit elements collide by chance 1 in 256; wider ones essentially never.
        #expect(differing(r0, r1) > count * 9 / 10)
        #expect(differing(r0, other) > count * 9 / 10)
    }

    /// Without specials, floats are finite, non-zero, normal, of both signs, with a spread of exponents, and the
    /// sum of 64 ranks cannot overflow.
    @Test func ordinaryFloatValues() {
        let gen = InputGenerator(seed: 99)
        let count = 5000
        let f32 = (0..<64).map { gen.array(.f32, rank: $0, count: count, as: Float.self) }
        #expect(f32.joined().allSatisfy { $0.isNormal && abs($0) < 0x1p21 && abs($0) >= 0x1p-20 })
        #expect(Set(f32[0].map(\.exponent)).count == 41)
        #expect(f32[0].contains { $0 < 0 } && f32[0].contains { $0 > 0 })
        let sums = (0..<count).map { i in f32.reduce(Float(0)) { $0 + $1[i] } }
        #expect(sums.allSatisfy { $0.isFinite })

        let f64 = gen.array(.f64, rank: 0, count: count, as: Double.self)
        #expect(f64.allSatisfy { $0.isNormal && abs($0) < 0x1p21 })
        #expect(Set(f64.map(\.exponent)).count == 41)
        #expect(Set(f64.map(\.significandBitPattern)).count == count, "52 random fraction bits")

        let bf16 = gen.array(.bf16, rank: 0, count: count, as: UInt16.self).map { BFloat16(bitPattern: $0).floatValue }
        #expect(bf16.allSatisfy { $0.isNormal && abs($0) < 0x1p21 })

        // binary16: at most 2^9 in magnitude, so 64 of them sum to at most 2^15 < 65504.
        let f16 = gen.array(.f16, rank: 0, count: count, as: UInt16.self)
        let exponents = f16.map { Int(($0 >> 10) & 0x1F) }
        #expect(exponents.allSatisfy { (7...23).contains($0) })
        #expect(Set(exponents).count == 17)
    }

    /// A different summation order gives different bits for a good share of elements: that is what makes the
    /// replay of the tree order a real check.
    @Test func orderMattersForFloatSums() {
        let gen = InputGenerator(seed: 5)
        let ranks = 8, count = 2000
        let inputs = (0..<ranks).map { gen.array(.f32, rank: $0, count: count, as: Float.self) }
        var changed = 0
        for i in 0..<count {
            let forward = inputs.reduce(Float(0)) { $0 + $1[i] }
            let backward = inputs.reversed().reduce(Float(0)) { $0 + $1[i] }
            if forward.bitPattern != backward.bitPattern { changed += 1 }
        }
        #expect(changed > count / 10)
    }

    /// With specials, each class appears in a few thousand elements, at roughly 1 in 64.
    @Test(arguments: [DType.f32, .f64, .f16, .bf16])
    func specialsCoverEveryClass(_ dtype: DType) {
        let gen = InputGenerator(seed: 2024, specials: true)
        let count = 20000
        let bits: [UInt64]
        let fractionBits: Int, exponentBits: Int
        switch dtype {
        case .f32:
            bits = gen.array(dtype, rank: 0, count: count, as: UInt32.self).map { UInt64($0) }
            (fractionBits, exponentBits) = (23, 8)
        case .f64:
            bits = gen.array(dtype, rank: 0, count: count, as: UInt64.self)
            (fractionBits, exponentBits) = (52, 11)
        case .f16:
            bits = gen.array(dtype, rank: 0, count: count, as: UInt16.self).map { UInt64($0) }
            (fractionBits, exponentBits) = (10, 5)
        default:
            bits = gen.array(dtype, rank: 0, count: count, as: UInt16.self).map { UInt64($0) }
            (fractionBits, exponentBits) = (7, 8)
        }
        let signBit = UInt64(1) << (fractionBits + exponentBits)
        let fractionMask = (UInt64(1) << fractionBits) - 1
        let quiet = UInt64(1) << (fractionBits - 1)
        let maxExponent = (UInt64(1) << exponentBits) - 1
        func exponent(_ b: UInt64) -> UInt64 { (b >> fractionBits) & maxExponent }
        let nans = bits.filter { exponent($0) == maxExponent && $0 & fractionMask != 0 }
        let quietNaNs = nans.filter { $0 & quiet != 0 }
        let signallingNaNs = nans.filter { $0 & quiet == 0 }
        let infinities = bits.filter { exponent($0) == maxExponent && $0 & fractionMask == 0 }
        let zeros = bits.filter { $0 & ~signBit == 0 }
        let subnormals = bits.filter { exponent($0) == 0 && $0 & fractionMask != 0 }
        let largest = bits.filter { $0 & ~signBit == ((maxExponent - 1) << fractionBits) | fractionMask }

        #expect(quietNaNs.count > 5 && signallingNaNs.count > 5)
        #expect(nans.contains { $0 & signBit != 0 } && nans.contains { $0 & signBit == 0 }, "NaNs of both signs")
        #expect(Set(nans.map { $0 & (fractionMask >> 1) }).count > 5, "varied payloads")
        let positiveInfinity = maxExponent << fractionBits
        #expect(infinities.contains(positiveInfinity) && infinities.contains(signBit | positiveInfinity))
        #expect(zeros.contains(0) && zeros.contains(signBit))
        #expect(subnormals.count > 5)
        #expect(largest.count > 2)

        let special = nans.count + infinities.count + zeros.count + subnormals.count + largest.count
        #expect(special > count / 100 && special < count / 40, "about 1 in 64: \(special) of \(count)")
    }

    @Test func integersAreRandomBits() {
        let gen = InputGenerator(seed: 3, specials: true)
        let i32 = gen.array(.i32, rank: 0, count: 4096, as: Int32.self)
        #expect(i32.contains { $0 < 0 } && i32.contains { $0 > 0 })
        #expect(Set(i32).count > 4000)
        let ones = i32.reduce(0) { $0 + $1.nonzeroBitCount }
        #expect(abs(Double(ones) / Double(4096 * 32) - 0.5) < 0.01)
        let u8 = gen.array(.u8, rank: 0, count: 4096, as: UInt8.self)
        #expect(Set(u8).count == 256)
        // specials does not change integer inputs.
        #expect(InputGenerator(seed: 3).array(.i32, rank: 0, count: 4096, as: Int32.self) == i32)
    }

    /// Pinned: workers and the coordinator may run different builds, and must still generate the same inputs.
    /// (Cross-checked against an independent Python model of the algorithm in docs/REDUCTION.md when pinned.)
    @Test(arguments: DType.allCases)
    func pinnedOutput(_ dtype: DType) {
        let pinned: [DType: UInt64] = [
            .f32: 0xB9A7_AF18_321A_BC49, .f64: 0xEFBF_AFFA_EB12_F3C9, .f16: 0xFEAB_718A_8A03_6D83,
            .bf16: 0x0459_BAFC_8224_D75D, .i32: 0x8F4A_5FDB_8E13_8681, .u32: 0x8F4A_5FDB_8E13_8681,
            .i64: 0x892F_87C8_3400_AA64, .u64: 0x892F_87C8_3400_AA64, .i8: 0x327C_774F_2148_E1E5,
            .u8: 0x327C_774F_2148_E1E5,
        ]
        let data = Self.bytes(InputGenerator(seed: 1, specials: true), dtype, rank: 2, offset: 1000, count: 4096)
        let digest = data.withUnsafeBytes { Digest.of($0) }
        #expect(digest == pinned[dtype], "\(dtype): 0x\(String(digest, radix: 16))")
    }

    @Test func equalityAndHashing() {
        let gen = InputGenerator(seed: 77, specials: true)
        #expect(gen != InputGenerator(seed: 77))
        #expect(gen == InputGenerator(seed: 77, specials: true))
        #expect(gen.hashValue == InputGenerator(seed: 77, specials: true).hashValue)
    }
}
