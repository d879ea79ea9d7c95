import TributaryCore

/// Wall-clock timing of a block on the monotonic clock.
///
/// `ContinuousClock` rather than `Date`: it never jumps with NTP adjustments, and it keeps counting while the
/// process is descheduled — which is what a throughput figure must include to be honest on a busy machine.
enum Stopwatch {
    /// Seconds taken by `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return (clock.now - start).inSeconds
    }
}
