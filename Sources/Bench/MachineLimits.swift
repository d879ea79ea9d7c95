import Foundation
import TributaryCore

/// Ceilings measured on this machine, in the same run as the benchmark they bound.
///
/// An emulated fabric can only be judged against what the host can do at that moment: a shared machine's memory
/// bandwidth and CPU time vary from run to run, so `tributary bench` measures these limits alongside its own
/// figures instead of quoting nominal numbers. Each limit is the median of `repeats` timed runs after untimed
/// warm-up runs lasting `warmUp` (page faults, cold caches and frequency ramp-up are not what is being measured).
///
/// Buffers default to 64 MiB — far larger than any last-level cache — so the figures are DRAM-bound, like the
/// large-message end of a bandwidth sweep.
public enum MachineLimits {
    /// Alignment of every buffer: a cache line, so no copy or vector kernel is slowed by split lines.
    static let alignment = 64

    /// How long to run the operation untimed before measuring. On the shared 2-core test machine a 64 MiB memcpy
    /// starts at about half speed and takes 70–150 ms of sustained work to reach its plateau (CPU frequency or
    /// hypervisor ramp-up); with a single warm-up copy the seven repeats climbed monotonically from 7 to 12 GB/s
    /// and the median landed mid-ramp. A fixed time rather than a count, because the ramp is time-bound.
    static let warmUp: Duration = .milliseconds(250)

    /// memcpy of `bytes` between two distinct 64-byte-aligned buffers (touched first), `repeats` times; median.
    /// Bytes counted = bytes copied.
    ///
    /// This is the ceiling for anything that moves payload through memory once (framing, staging, forwarding).
    /// Only the bytes copied are counted, not read + written traffic (STREAM's convention would double it),
    /// because that is the unit the bench's own bandwidth figures use.
    public static func memcpyBandwidth(bytes: Int = 64 << 20, repeats: Int = 7) -> Throughput {
        memcpyBandwidth(bytes: bytes, repeats: repeats, warmUp: warmUp)
    }

    /// `memcpyBandwidth` with a chosen warm-up (at least one copy), so tests need not spend `warmUp` per call.
    static func memcpyBandwidth(bytes: Int, repeats: Int, warmUp: Duration) -> Throughput {
        precondition(bytes > 0, "memcpyBandwidth needs a positive byte count, got \(bytes)")
        precondition(repeats > 0, "memcpyBandwidth needs at least one repeat, got \(repeats)")
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        // Touch every page of both buffers so the timed copies do not pay for page faults.
        memset(source, 0xA5, bytes)
        memset(destination, 0x5A, bytes)

        warmingUp(for: warmUp) { memcpy(destination, source, bytes) }
        var samples: [Double] = []
        samples.reserveCapacity(repeats)
        var witness: UInt8 = 0
        for index in 0..<repeats {
            let seconds = Stopwatch.seconds { memcpy(destination, source, bytes) }
            samples.append(rate(bytes, seconds))
            // Read the copy back so the copies have an observable effect and cannot be optimised away.
            witness ^= destination.load(fromByteOffset: (index &* 4093) % bytes, as: UInt8.self)
        }
        precondition(witness == (repeats % 2 == 1 ? 0xA5 : 0), "memcpy did not copy")
        return Throughput(samples: samples)
    }

    /// Reduction.combine over `bytes` of acc and src (inputs from InputGenerator, no specials); counts src bytes
    /// per second; median.
    ///
    /// This is the ceiling of an aggregator's reduction: it reads two buffers and writes one, exactly as a switch
    /// folding a child's chunk into its accumulator. The accumulator is restored from a pristine copy before every
    /// repeat (untimed), so repeated `prod`/`sum` cannot drift into infinities or subnormals — subnormal floats are
    /// many times slower on x86 and would make later repeats measure something else. `bytes` is rounded down to
    /// whole elements (at least one). Traps if `op` does not support `dtype`, like `Reduction.combine`.
    public static func kernelThroughput(_ dtype: DType, _ op: ReduceOp, bytes: Int = 64 << 20,
                                        repeats: Int = 7) -> Throughput {
        kernelThroughput(dtype, op, bytes: bytes, repeats: repeats, warmUp: warmUp)
    }

    /// `kernelThroughput` with a chosen warm-up (at least one run), so tests need not spend `warmUp` per call.
    static func kernelThroughput(_ dtype: DType, _ op: ReduceOp, bytes: Int, repeats: Int,
                                 warmUp: Duration) -> Throughput {
        precondition(bytes > 0, "kernelThroughput needs a positive byte count, got \(bytes)")
        precondition(repeats > 0, "kernelThroughput needs at least one repeat, got \(repeats)")
        precondition(op.supports(dtype), "\(op) is not defined for \(dtype)")
        let count = max(1, bytes / dtype.size)
        let byteCount = count * dtype.size
        let accumulator = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        let pristine = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        let source = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        defer {
            accumulator.deallocate()
            pristine.deallocate()
            source.deallocate()
        }
        let generator = InputGenerator(seed: 0x6265_6E63_6821, specials: false)
        generator.fill(dtype, rank: 0, offset: 0, count: count, into: pristine)
        generator.fill(dtype, rank: 1, offset: 0, count: count, into: source)

        warmingUp(for: warmUp) {
            memcpy(accumulator, pristine, byteCount)
            Reduction.combine(op, dtype, into: accumulator, from: UnsafeRawPointer(source), count: count)
        }
        var samples: [Double] = []
        samples.reserveCapacity(repeats)
        for _ in 0..<repeats {
            memcpy(accumulator, pristine, byteCount)
            let seconds = Stopwatch.seconds {
                Reduction.combine(op, dtype, into: accumulator, from: UnsafeRawPointer(source), count: count)
            }
            samples.append(rate(byteCount, seconds))
        }
        return Throughput(samples: samples)
    }

    /// Runs `body` at least once and until `duration` has passed.
    static func warmingUp(for duration: Duration, _ body: () -> Void) {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        repeat { body() } while clock.now < deadline
    }

    /// Bytes per second, with the time floored at 1 ns: a tiny buffer can finish within the clock's resolution,
    /// and a sample of +∞ would poison every figure derived from it.
    static func rate(_ bytes: Int, _ seconds: Double) -> Double {
        Double(bytes) / max(seconds, 1e-9)
    }
}
