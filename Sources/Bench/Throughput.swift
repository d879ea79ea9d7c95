/// A measured data rate: the median of several repeats, with every repeat kept.
///
/// The machines this runs on are shared and noisy, so a single timing says little; the median is robust to the
/// odd descheduled repeat, and keeping `samples` lets a report show the spread (and a reader judge whether the
/// median is trustworthy) instead of hiding it.
public struct Throughput: Sendable, Codable, Equatable {
    /// Median of `samples`, in bytes per second.
    public var bytesPerSecond: Double
    /// Each repeat's rate in bytes per second, in the order measured.
    public var samples: [Double]

    /// Decimal gigabytes per second (1e9, as nccl-tests reports), so figures compare directly with its tables.
    public var gbps: Double { bytesPerSecond / 1e9 }

    public init(bytesPerSecond: Double, samples: [Double]) {
        self.bytesPerSecond = bytesPerSecond
        self.samples = samples
    }

    /// The median of `samples` as the figure; 0 when there are none.
    public init(samples: [Double]) {
        self.init(bytesPerSecond: median(of: samples), samples: samples)
    }
}
