/// Shortest-path next hops over the topology graph, with the tree builder's rules: nodes indexed
/// switches first (file order) then hosts, only switches forward, and among equally short ways the
/// lowest-index neighbour wins (then the lowest link index). That makes the routed path between a
/// host and an aggregation switch the same one the `TreeBuilder` assumes data takes.
struct FabricRouting {
    /// `(neighbour, link)` pairs per node, ascending.
    let adjacency: [[(node: Int, link: Int)]]
    let switchCount: Int

    init(nodeCount: Int, switchCount: Int, links: [(a: Int, b: Int)]) {
        var adjacency = [[(node: Int, link: Int)]](repeating: [], count: nodeCount)
        for (i, link) in links.enumerated() {
            adjacency[link.a].append((link.b, i))
            adjacency[link.b].append((link.a, i))
        }
        for v in adjacency.indices {
            adjacency[v].sort { ($0.node, $0.link) < ($1.node, $1.link) }
        }
        self.adjacency = adjacency
        self.switchCount = switchCount
    }

    /// For destination `d`: the `(neighbour, link)` each node sends packets for `d` to, nil for `d`
    /// itself and for nodes that cannot reach it. One BFS from `d` that expands only `d` and switches,
    /// so a host is never a transit hop.
    func nextHops(to d: Int) -> [(node: Int, link: Int)?] {
        let count = adjacency.count
        var dist = [Int](repeating: -1, count: count)
        var queue = [d]
        queue.reserveCapacity(count)
        dist[d] = 0
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            guard v < switchCount || v == d else { continue }
            for (u, _) in adjacency[v] where dist[u] < 0 {
                dist[u] = dist[v] + 1
                queue.append(u)
            }
        }
        var next = [(node: Int, link: Int)?](repeating: nil, count: count)
        for v in 0..<count where dist[v] > 0 {
            next[v] = adjacency[v].first { entry in
                dist[entry.node] == dist[v] - 1 && (entry.node == d || entry.node < switchCount)
            }
        }
        return next
    }
}
