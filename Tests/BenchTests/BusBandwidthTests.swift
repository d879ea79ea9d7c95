import Testing
import Bench

/// Bus bandwidth factors as in nccl-tests doc/PERFORMANCE.md.
@Suite struct BusBandwidthTests {
    @Test func factorsForOneTwoAndEightRanks() {
        let expected: [(String, [Int: Double])] = [
            ("allreduce", [1: 0, 2: 1, 8: 1.75]),
            ("reducescatter", [1: 0, 2: 0.5, 8: 0.875]),
            ("allgather", [1: 0, 2: 0.5, 8: 0.875]),
            ("broadcast", [1: 1, 2: 1, 8: 1]),
            ("reduce", [1: 1, 2: 1, 8: 1]),
        ]
        for (collective, byRanks) in expected {
            for (ranks, factor) in byRanks {
                #expect(BusBandwidth.factor(collective: collective, ranks: ranks) == factor, "\(collective) n=\(ranks)")
            }
        }
    }

    @Test func collectiveNamesAreMatchedLoosely() {
        #expect(BusBandwidth.factor(collective: "AllReduce", ranks: 4) == 1.5)
        #expect(BusBandwidth.factor(collective: "all_reduce", ranks: 4) == 1.5)
        #expect(BusBandwidth.factor(collective: "reduce-scatter", ranks: 4) == 0.75)
        #expect(BusBandwidth.factor(collective: "all gather", ranks: 4) == 0.75)
    }

    @Test func algorithmBandwidthIsDecimalGigabytesPerSecond() {
        #expect(BusBandwidth.algbw(bytes: 1_000_000_000, seconds: 1) == 1)
        #expect(BusBandwidth.algbw(bytes: 64 << 20, seconds: 0.5) == Double(64 << 20) * 2 / 1e9)
        #expect(BusBandwidth.algbw(bytes: 1, seconds: 0) == 0)
        #expect(BusBandwidth.algbw(bytes: 1, seconds: -1) == 0)
    }
}
