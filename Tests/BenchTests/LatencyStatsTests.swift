import Foundation
import Testing
import Bench

/// Percentiles on known inputs, within HdrHistogram's 3-significant-digit precision; exact median, min and max.
@Suite struct LatencyStatsTests {
    /// Relative precision of a 3-significant-digit histogram.
    static let precision = 1e-3

    static func close(_ value: Double, _ expected: Double) -> Bool {
        abs(value - expected) <= expected * precision
    }

    @Test func oneToHundredMilliseconds() {
        let stats = LatencyStats(seconds: (1...100).map { Double($0) / 1000 }.shuffled())
        #expect(stats.count == 100)
        #expect(Self.close(stats.p50, 0.050), "p50 \(stats.p50)")
        #expect(Self.close(stats.p99, 0.099), "p99 \(stats.p99)")
        #expect(stats.min == 0.001)
        #expect(stats.max == 0.1)
        #expect(abs(stats.median - 0.0505) < 1e-12, "median \(stats.median)")
    }

    @Test func microsecondSamplesAreResolved() {
        // 1000 samples of 10 µs and 10 of 2 ms: p50 is the common case, p99 still the common case (1000/1010 > 99 %).
        let samples = Array(repeating: 10e-6, count: 1000) + Array(repeating: 2e-3, count: 10)
        let stats = LatencyStats(seconds: samples)
        #expect(Self.close(stats.p50, 10e-6))
        #expect(Self.close(stats.p99, 10e-6))
        #expect(stats.max == 2e-3)
        #expect(stats.median == 10e-6)
    }

    @Test func oddCountMedianIsTheMiddleSample() {
        let stats = LatencyStats(seconds: [0.3, 0.1, 0.2])
        #expect(stats.median == 0.2)
        #expect(Self.close(stats.p50, 0.2))
        #expect(stats.min == 0.1 && stats.max == 0.3)
    }

    @Test func emptyAndNonFiniteInputs() {
        #expect(LatencyStats(seconds: []) == LatencyStats(seconds: [.nan, .infinity]))
        let empty = LatencyStats(seconds: [])
        #expect(empty.count == 0 && empty.p50 == 0 && empty.p99 == 0 && empty.median == 0)
        let mixed = LatencyStats(seconds: [.nan, 0.004, -.infinity])
        #expect(mixed.count == 1)
        #expect(mixed.median == 0.004)
    }

    @Test func roundTripsThroughJSON() throws {
        let stats = LatencyStats(seconds: [0.001, 0.002, 0.004])
        #expect(try JSONDecoder().decode(LatencyStats.self, from: JSONEncoder().encode(stats)) == stats)
    }
}
