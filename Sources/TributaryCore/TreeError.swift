/// Why no aggregation tree could be built for a set of ranks.
public enum TreeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The job has no ranks.
    case noRanks
    /// `host` (where `rank` runs) is not a host of the topology.
    case unknownHost(rank: Int, host: String)
    /// No path through switches joins `host` (of `rank`) to `from`, the host of rank 0 (hosts never
    /// forward, so a host linked to two otherwise separate fabrics does not join them).
    case unreachable(rank: Int, host: String, from: String)
    /// No switch that can aggregate is reachable from the participants.
    case noAggregatingSwitch

    public var description: String {
        switch self {
        case .noRanks:
            return "cannot build a tree for zero ranks"
        case let .unknownHost(rank, host):
            return "rank \(rank) runs on `\(host)`, which is not a host of the topology"
        case let .unreachable(rank, host, from):
            return "rank \(rank) on `\(host)` cannot reach `\(from)` (rank 0) through the fabric's switches"
        case .noAggregatingSwitch:
            return "no switch that can aggregate is reachable from the job's hosts"
        }
    }
}
