import Testing
import TributaryCore

@Suite struct DigestTests {
    static func digest(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { Digest.of($0) }
    }

    static func sample(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    /// Pinned values: the digest is exchanged between processes and hosts, so it must never change silently.
    /// (Cross-checked against an independent Python model of the algorithm when first pinned.)
    @Test func pinnedValues() {
        #expect(Self.digest([]) == 0xEF46_DB37_51D8_E999)
        #expect(Self.digest([0]) == 0xA6F9_3E8B_1B2C_7787)
        #expect(Self.digest(Self.sample(1000)) == 0x4110_EB67_FA4E_9456)
    }

    @Test func singleBitFlipAnywhereChangesTheDigest() {
        for length in [1, 7, 8, 9, 31, 32, 33, 64, 100, 257] {
            let original = Self.sample(length)
            let reference = Self.digest(original)
            var seen: Set<UInt64> = [reference]
            for bit in 0..<(length * 8) {
                var flipped = original
                flipped[bit / 8] ^= UInt8(1 << (bit % 8))
                let d = Self.digest(flipped)
                #expect(d != reference, "length \(length), bit \(bit)")
                seen.insert(d)
            }
            #expect(seen.count == length * 8 + 1, "all flips give distinct digests for length \(length)")
        }
    }

    @Test func lengthChangesTheDigest() {
        // Zero padding, and every prefix of a buffer, give distinct digests.
        let zeros = (0...200).map { Self.digest([UInt8](repeating: 0, count: $0)) }
        #expect(Set(zeros).count == zeros.count)
        let data = Self.sample(300)
        let prefixes = (0...300).map { n in
            data.withUnsafeBytes { Digest.of(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
        #expect(Set(prefixes).count == prefixes.count)
    }

    @Test func independentOfAlignment() {
        let data = Self.sample(1001)
        let expected = Self.digest(Array(data[1...]))
        data.withUnsafeBytes { raw in
            #expect(Digest.of(UnsafeRawBufferPointer(rebasing: raw[1...])) == expected)
        }
        #expect(Self.digest(data) == Self.digest(data))
    }

    @Test func swappedWordsDiffer() {
        var data = Self.sample(64)
        let before = Self.digest(data)
        for i in 0..<8 { data.swapAt(i, i + 8) }
        #expect(Self.digest(data) != before)
    }
}
