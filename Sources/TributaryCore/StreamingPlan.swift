/// How one job streams through its tree: the chunk size and the window (credits), chosen from the
/// switches' slot sizes, the slots the job was granted and, on emulated long links, the paths'
/// bandwidth-delay product. Pure, so the choice is tested apart from the coordinator.
public struct StreamingPlan: Sendable, Equatable {
    public var parameters: StreamingParameters
    /// Why the window is what it is (`fixed`, `distance-aware: longest-path BDP 12500 B, capped by 16 slots`).
    public var windowReason: String
    /// What every operation of the job reports as its path.
    public var path: String

    /// - Parameters:
    ///   - grant: slots the job holds at each switch of `tree` (its admission).
    ///   - chunkBytes, window: the fabric's upper bound for the chunk and its base window.
    ///   - lowLatencyBytes: the low-latency path's threshold (capped at the chunk it fits in).
    ///   - pathToRoot: one-way latency (s) and bottleneck rate (bit/s) from a host to the tree's root,
    ///     when links are emulated; nil: the window is used as given (distance-unaware).
    public init(tree: AggregationTree, topology: Topology, grant: [String: Int], chunkBytes: Int, window: Int,
                lowLatencyBytes: Int = 0, pathToRoot: ((_ host: String) -> (latency: Double, rate: Double)?)?) {
        // Chunks fit the smallest slot of the tree, windows the smallest granted pool.
        let slots = max(1, grant.values.min() ?? 1)
        var slotBytes = Int.max
        for name in tree.nodes.keys {
            slotBytes = min(slotBytes, topology.switch(named: name)?.aggregation?.slotBytes ?? 8)
        }
        let chunk = max(8, min(chunkBytes, slotBytes) / 8 * 8)
        var wanted = window
        var why = "fixed"
        if let pathToRoot {
            // Credits must cover the round trip of the longest path at its bottleneck rate, with
            // headroom for jitter: window ≥ 1.5 × BDP / chunk (+1 so a chunk is always in flight).
            var bdp = 0.0
            for host in tree.hosts {
                if let p = pathToRoot(host) { bdp = max(bdp, p.rate / 8 * 2 * p.latency) }
            }
            wanted = max(wanted, Int((1.5 * bdp / Double(chunk)).rounded(.up)) + 1)
            why = "distance-aware: longest-path BDP \(Int(bdp)) B"
        }
        if wanted > slots { why += ", capped by \(slots) slots" }
        parameters = StreamingParameters(chunkBytes: chunk, window: max(1, min(wanted, slots)),
                                         lowLatencyBytes: lowLatencyBytes)
        windowReason = why
        let levels = tree.aggregatorsTopDown.compactMap { tree.nodes[$0]?.level }
        path = "in-network: tree \(tree.root) over \(tree.nodes.count) switches, \((levels.max() ?? 0) + 1) levels, "
            + "window \(parameters.window)"
    }
}
