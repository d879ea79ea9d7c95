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
        return seconds(of: clock.now - start)
    }

    /// `duration` as a `Double` number of seconds.
    static func seconds(of duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
