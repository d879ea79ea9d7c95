/// The exact median of `values` (the mean of the two middle values for an even count); 0 when empty.
///
/// Every figure the bench reports is a median of repeats, because on a shared machine the mean is dragged by the
/// one repeat that got descheduled; one definition here keeps throughput and latency figures consistent.
func median(of values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
