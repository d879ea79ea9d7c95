/// Rows for drawing a topology: hosts at the bottom, each switch as many rows up as it is hops from
/// the nearest host (leaves 1, spines 2, a fat-tree's cores 3), whatever its `tier` label says.
///
/// Neighbours are at most one row apart (hop counts of neighbours differ by at most one), so every
/// link joins adjacent rows or lies within one, and the picture reads like the fabric does: traffic
/// climbs from hosts towards the root. Hosts keep file (rank) order; each switch row is ordered by
/// where the switches' neighbours sit in the row below (ties in file order), which keeps a leaf over
/// its hosts and a pod's switches together. Deterministic: the same topology gives the same rows.
struct TopologyLayout {
    /// Row of each node by number: 0 for hosts.
    let level: [Int]
    /// Node numbers per row, bottom (hosts) first, in drawing order left to right.
    let rows: [[Int]]

    init(graph: TopologyGraph) {
        let count = graph.nodeCount
        var level = [Int](repeating: -1, count: count)
        var queue: [Int] = []
        queue.reserveCapacity(count)
        for v in graph.switchCount..<count {
            level[v] = 0
            queue.append(v)
        }
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for (u, _) in graph.adjacency[v] where level[u] < 0 {
                level[u] = level[v] + 1
                queue.append(u)
            }
        }
        // Switches no host reaches (a validated topology has none) go in a row of their own on top.
        let top = max(level.max() ?? 0, 0) + 1
        var rows = [[Int]](repeating: [], count: top)
        for v in 0..<count where level[v] < 0 {
            level[v] = top
        }
        if level.contains(top) { rows.append([]) }

        rows[0] = Array(graph.switchCount..<count)
        var position = [Double](repeating: 0, count: count)
        func place(_ row: [Int]) {
            for (i, v) in row.enumerated() { position[v] = (Double(i) + 0.5) / Double(row.count) }
        }
        place(rows[0])
        for r in 1..<rows.count {
            let members = (0..<graph.switchCount).filter { level[$0] == r }
            let keyed = members.map { v -> (key: Double, node: Int) in
                let below = graph.adjacency[v].filter { level[$0.node] == r - 1 }.map { position[$0.node] }
                return (below.isEmpty ? 2 : below.reduce(0, +) / Double(below.count), v)
            }
            rows[r] = keyed.sorted { ($0.key, $0.node) < ($1.key, $1.node) }.map(\.node)
            place(rows[r])
        }
        self.level = level
        self.rows = rows
    }
}
