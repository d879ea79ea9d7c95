#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time for trace events. Every process of a run stamps its events itself, so the clock
/// must be one they share: CLOCK_REALTIME lines processes on one machine up, where each process's
/// monotonic clock would not.
public enum TraceClock {
    /// Nanoseconds since the Unix epoch.
    public static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
