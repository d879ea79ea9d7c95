/// Algorithm and bus bandwidth, as nccl-tests defines them (doc/PERFORMANCE.md), so tables compare with its.
///
/// Algorithm bandwidth is simply the data size over the time. Bus bandwidth scales it by how much data each rank
/// must actually move for the collective in an optimal algorithm, which makes the figure independent of the rank
/// count and comparable with the hardware's link speed — here, with the raw socket throughput measured in the same
/// run:
///
/// - allreduce: 2(n−1)/n (every rank sends and receives (n−1)/n of the buffer twice: reduce-scatter + allgather);
/// - reducescatter, allgather, alltoall: (n−1)/n;
/// - broadcast, reduce: 1 (the root's full buffer must cross one link).
///
/// For reducescatter/allgather the size is the total buffer (n × the per-rank chunk), as nccl-tests counts it.
/// With one rank the (n−1)/n factors are 0: no data crosses any link.
public enum BusBandwidth {
    /// The factor by which algorithm bandwidth is multiplied to get bus bandwidth. `collective` is matched
    /// ignoring case, `_`, `-` and spaces ("allReduce", "all_reduce"). Traps on an unknown collective or
    /// `ranks < 1`: both are programming errors, and a silently wrong factor would mislead every figure.
    public static func factor(collective: String, ranks: Int) -> Double {
        precondition(ranks >= 1, "bus bandwidth needs at least one rank, got \(ranks)")
        let n = Double(ranks)
        let key = collective.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " }
        switch key {
        case "allreduce":
            return 2 * (n - 1) / n
        case "reducescatter", "allgather", "alltoall":
            return (n - 1) / n
        case "broadcast", "reduce":
            return 1
        default:
            preconditionFailure("no bus bandwidth factor for collective '\(collective)'")
        }
    }

    /// Algorithm bandwidth in GB/s (1e9 bytes per second): `bytes / seconds`. Returns 0 when `seconds` is not
    /// positive, since no meaningful rate exists (and an infinity would break tables and log plots).
    public static func algbw(bytes: Int, seconds: Double) -> Double {
        guard seconds > 0, seconds.isFinite else { return 0 }
        return Double(bytes) / seconds / 1e9
    }
}
