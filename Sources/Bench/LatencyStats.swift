import Histogram

/// Percentiles of per-iteration times, as an HdrHistogram computes them.
///
/// Tail latency (p99) is what a collective's users feel — one slow rank stalls every rank — so the bench reports
/// it next to the median. HdrHistogram gives percentiles with a bounded relative error (3 significant digits,
/// ≤ 0.1 %) from a fixed amount of memory however many iterations run, and is the same method other latency tools
/// use, so figures are comparable. Values are recorded in nanoseconds.
///
/// `median` is the exact median of the raw samples (mean of the two middle ones for an even count), kept next to
/// the histogram's `p50` because it is the figure the bandwidth columns are computed from; `min` and `max` are
/// also exact. All values are in seconds. Non-finite samples are ignored and negative ones count as 0.
public struct LatencyStats: Sendable, Codable, Equatable {
    /// Number of samples used.
    public var count: Int
    /// 50th and 99th percentiles from the histogram (each the highest value equivalent to its bucket).
    public var p50: Double
    public var p99: Double
    public var min: Double
    public var max: Double
    /// Exact median of the samples.
    public var median: Double

    /// Statistics of `seconds`; all zero when there are no (finite) samples.
    public init(seconds: [Double]) {
        let samples = seconds.filter(\.isFinite).map { Swift.max($0, 0) }
        count = samples.count
        guard !samples.isEmpty else {
            p50 = 0
            p99 = 0
            min = 0
            max = 0
            median = 0
            return
        }
        var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        for sample in samples {
            // Clamp before converting: a sample of centuries would otherwise overflow UInt64 and trap.
            let nanoseconds = Swift.min((sample * 1e9).rounded(), Double(UInt64.max / 4))
            histogram.record(UInt64(nanoseconds))
        }
        p50 = Double(histogram.valueAtPercentile(50)) / 1e9
        p99 = Double(histogram.valueAtPercentile(99)) / 1e9
        min = samples.min()!
        max = samples.max()!
        median = Bench.median(of: samples)
    }
}
