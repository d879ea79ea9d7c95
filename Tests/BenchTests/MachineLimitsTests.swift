import Foundation
import Testing
@testable import Bench
import TributaryCore

/// The limits must be real measurements: one positive, finite sample per repeat, and the reported figure their
/// median. No thresholds on the values themselves — the machines are shared and noisy.
@Suite struct MachineLimitsTests {
    static var supportedPairs: [(DType, ReduceOp)] {
        DType.allCases.flatMap { dtype in ReduceOp.allCases.filter { $0.supports(dtype) }.map { (dtype, $0) } }
    }

    @Test func memcpyGivesOnePositiveSamplePerRepeat() {
        let throughput = MachineLimits.memcpyBandwidth(bytes: 1 << 20, repeats: 5)
        Self.expectWellFormed(throughput, repeats: 5)
    }

    @Test func memcpyHandlesOddSizesAndOneRepeat() {
        let throughput = MachineLimits.memcpyBandwidth(bytes: 4_097, repeats: 1, warmUp: .zero)
        Self.expectWellFormed(throughput, repeats: 1)
        #expect(throughput.bytesPerSecond == throughput.samples[0])
    }

    @Test func kernelGivesOnePositiveSamplePerRepeat() {
        Self.expectWellFormed(MachineLimits.kernelThroughput(.f32, .sum, bytes: 1 << 20, repeats: 5), repeats: 5)
    }

    /// Every kernel, without the warm-up (which would cost a quarter second per pair).
    @Test(arguments: supportedPairs)
    func everyKernelMeasures(_ dtype: DType, _ op: ReduceOp) {
        let throughput = MachineLimits.kernelThroughput(dtype, op, bytes: 64 << 10, repeats: 3, warmUp: .zero)
        Self.expectWellFormed(throughput, repeats: 3)
    }

    @Test func kernelRoundsToWholeElements() {
        // 1001 bytes of f64 is 125 elements; a byte count below one element still measures one element.
        let odd = MachineLimits.kernelThroughput(.f64, .sum, bytes: 1_001, repeats: 2, warmUp: .zero)
        Self.expectWellFormed(odd, repeats: 2)
        let tiny = MachineLimits.kernelThroughput(.f64, .prod, bytes: 3, repeats: 2, warmUp: .zero)
        Self.expectWellFormed(tiny, repeats: 2)
    }

    @Test func throughputIsTheMedianOfItsSamples() {
        #expect(Throughput(samples: [3, 1, 2]).bytesPerSecond == 2)
        #expect(Throughput(samples: [4, 1, 3, 2]).bytesPerSecond == 2.5)
        #expect(Throughput(samples: []).bytesPerSecond == 0)
        let throughput = Throughput(samples: [2e9, 5e9, 3e9])
        #expect(throughput.bytesPerSecond == 3e9)
        #expect(throughput.gbps == 3)
        #expect(throughput.samples == [2e9, 5e9, 3e9])
    }

    @Test func throughputRoundTripsThroughJSON() throws {
        let throughput = Throughput(samples: [1.5e9, 2.5e9, 2e9])
        let decoded = try JSONDecoder().decode(Throughput.self, from: JSONEncoder().encode(throughput))
        #expect(decoded == throughput)
    }

    static func expectWellFormed(_ throughput: Throughput, repeats: Int,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throughput.samples.count == repeats, sourceLocation: sourceLocation)
        #expect(throughput.samples.allSatisfy { $0.isFinite && $0 > 0 }, sourceLocation: sourceLocation)
        #expect(throughput.bytesPerSecond == median(of: throughput.samples), sourceLocation: sourceLocation)
        #expect(throughput.bytesPerSecond > 0, sourceLocation: sourceLocation)
        #expect(throughput.gbps == throughput.bytesPerSecond / 1e9, sourceLocation: sourceLocation)
    }
}
