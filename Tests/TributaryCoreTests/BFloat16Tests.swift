import Testing
import TributaryCore

@Suite struct BFloat16Tests {
    static func rounded(_ floatBits: UInt32) -> UInt16 {
        BFloat16(Float(bitPattern: floatBits)).bitPattern
    }

    @Test func everyPatternRoundTripsExactly() {
        for pattern in 0...UInt16.max {
            let b = BFloat16(bitPattern: pattern)
            #expect(b.floatValue.bitPattern == UInt32(pattern) << 16)
            let back = BFloat16(b.floatValue).bitPattern
            if b.isNaN {
                #expect(back == pattern | 0x0040, "NaN 0x\(String(pattern, radix: 16)) is quieted")
            } else if back != pattern {
                Issue.record("0x\(String(pattern, radix: 16)) does not round-trip: 0x\(String(back, radix: 16))")
            }
        }
    }

    @Test func roundsToNearestTiesToEven() {
        #expect(Self.rounded(0x3F80_8000) == 0x3F80)  // tie, 0x3f80 is even
        #expect(Self.rounded(0x3F81_8000) == 0x3F82)  // tie, 0x3f82 is even
        #expect(Self.rounded(0x3F80_8001) == 0x3F81)  // just above the tie
        #expect(Self.rounded(0x3F81_7FFF) == 0x3F81)  // just below the tie
        #expect(Self.rounded(0xBF80_8000) == 0xBF80)  // sign does not matter
        #expect(Self.rounded(0xBF81_8000) == 0xBF82)
        #expect(Self.rounded(0x3FFF_8000) == 0x4000)  // carry into the exponent
        #expect(Self.rounded(0x0000_8000) == 0x0000)  // subnormal tie to even (zero)
        #expect(Self.rounded(0x0001_8000) == 0x0002)
        #expect(Self.rounded(0x8000_0001) == 0x8000)  // tiny negative rounds to -0
    }

    @Test func overflowAndInfinity() {
        #expect(BFloat16(Float.greatestFiniteMagnitude).bitPattern == 0x7F80)  // rounds up to ∞
        #expect(BFloat16(-Float.greatestFiniteMagnitude).bitPattern == 0xFF80)
        #expect(Self.rounded(0x7F7F_7FFF) == 0x7F7F)  // largest that stays finite
        #expect(BFloat16(Float.infinity).bitPattern == 0x7F80)
        #expect(BFloat16(-Float.infinity).bitPattern == 0xFF80)
    }

    @Test func nanStaysNaN() {
        // A signalling NaN whose payload is only in the discarded bits must not become ∞.
        #expect(Self.rounded(0x7F80_0001) == 0x7FC0)
        #expect(Self.rounded(0xFF80_0001) == 0xFFC0)
        #expect(Self.rounded(0xFFA1_2345) == 0xFFE1)  // sign and top payload bits kept, quiet bit set
        #expect(Self.rounded(0x7FC0_0000) == 0x7FC0)
        #expect(Self.rounded(0x7FFF_FFFF) == 0x7FFF)  // no carry out of a NaN
        #expect(BFloat16(Float.nan).isNaN)
    }

    @Test func equalityIsBitwise() {
        #expect(BFloat16(bitPattern: 0x0000) != BFloat16(bitPattern: 0x8000))  // +0 vs -0
        #expect(BFloat16(bitPattern: 0x7FC1) == BFloat16(bitPattern: 0x7FC1))  // same NaN
        #expect(BFloat16(bitPattern: 0x7FC1) != BFloat16(bitPattern: 0x7FC2))
        #expect(Set([BFloat16(1.0), BFloat16(1.0), BFloat16(2.0)]).count == 2)
        #expect(BFloat16(1.5).description == "1.5")
        #expect(BFloat16(3.140625).floatValue == 3.140625)
    }
}
