/// The payload bytes every link of a topology carried each way, from `LinkLoad`s that may name the
/// ends of a longer path: a load between non-neighbours is counted in full on each link of the route
/// between them (the data crossed every one of them).
///
/// Sums saturate and negative counts count as zero, so a hand-edited or corrupt summary draws a
/// wrong picture rather than trapping.
struct LinkTraffic {
    /// Bytes in each link's `a` → `b` direction, by link number (`Topology.links` order).
    var aToB: [Int]
    /// Bytes in each link's `b` → `a` direction.
    var bToA: [Int]
    /// Loads that name a node the topology lacks, or two nodes no path joins: shown as a count, not drawn.
    var unplaced: [LinkLoad] = []

    init(graph: TopologyGraph, loads: [LinkLoad]) {
        aToB = [Int](repeating: 0, count: graph.ends.count)
        bToA = aToB
        for load in loads {
            guard let route = graph.route(from: load.from, to: load.to), !route.isEmpty else {
                if load.from != load.to { unplaced.append(load) }
                continue
            }
            let up = max(0, load.bytesUp), down = max(0, load.bytesDown)
            for step in route {
                let (along, against) = step.forward ? (up, down) : (down, up)
                aToB[step.link] = Self.add(aToB[step.link], along)
                bToA[step.link] = Self.add(bToA[step.link], against)
            }
        }
    }

    /// The bytes of the link's busier direction: links are full duplex, so that one is its bottleneck.
    func busier(_ link: Int) -> Int { max(aToB[link], bToA[link]) }

    private static func add(_ x: Int, _ y: Int) -> Int {
        let (sum, overflow) = x.addingReportingOverflow(y)
        return overflow ? Int.max : sum
    }
}
