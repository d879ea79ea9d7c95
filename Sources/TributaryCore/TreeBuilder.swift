/// Builds aggregation trees over a topology: which switches reduce a job's ranks, and in what order.
///
/// The rules, all deterministic so that a tree (and therefore every float result) is a function of
/// the topology and the rank→host list alone:
/// 1. **Root**: among aggregating switches, the one with the smallest maximum hop distance to the
///    participating hosts; ties go to the lowest switch index (file order). When participants span
///    several sites, the root is taken from the site with most ranks (ties: the site of the lowest
///    rank), so each remote site is reduced locally and crosses its long-haul link once.
/// 2. **Paths**: a shortest-path (BFS) tree from the root; a node's parent is its lowest-index
///    neighbour one hop closer to the root. Hosts never forward.
/// 3. **Shape**: switches with no participant below are pruned; switches that cannot aggregate pass
///    through (their children attach to the nearest aggregating ancestor); a non-root aggregating
///    switch with a single child is collapsed into its parent; a root left with a single aggregating
///    child hands the root to it. A single participant gives a root with one worker child.
/// 4. **Order**: children sorted by the smallest rank beneath them; several ranks on one host all
///    become children of that host's aggregation node.
///
/// The topology is indexed once (switches `0..<S` in file order, then hosts), with adjacency in
/// compressed arrays sorted by index, so building a tree is a few BFS passes over integer arrays:
/// well under a second for 100k+ endpoints in release builds.
public struct TreeBuilder: Sendable {
    public let topology: Topology
    private let switchCount: Int
    private let nodeCount: Int
    /// Neighbours of node `v` are `adjacency[adjacencyStart[v]..<adjacencyStart[v + 1]]`, ascending.
    private let adjacencyStart: [Int]
    private let adjacency: [Int]
    private var aggregates: [Bool]
    private let hostIndex: [String: Int]
    /// Site id per node (-1: none); a host without a site takes its lowest-index switch's.
    private let siteOf: [Int]
    private let siteCount: Int

    /// Indexes `topology`. Links naming unknown nodes are ignored here; `Topology.validate` (run by
    /// `load`/`parse`) is where they are refused.
    public init(topology: Topology) {
        self.topology = topology
        let switchCount = topology.switches.count
        let nodeCount = switchCount + topology.hosts.count
        self.switchCount = switchCount
        self.nodeCount = nodeCount

        var index: [String: Int] = [:]
        index.reserveCapacity(nodeCount)
        for (i, sw) in topology.switches.enumerated() where index[sw.name] == nil { index[sw.name] = i }
        var hostIndex: [String: Int] = [:]
        hostIndex.reserveCapacity(topology.hosts.count)
        for (i, host) in topology.hosts.enumerated() where index[host.name] == nil {
            index[host.name] = switchCount + i
            hostIndex[host.name] = switchCount + i
        }
        self.hostIndex = hostIndex

        var ends: [(Int, Int)] = []
        ends.reserveCapacity(topology.links.count)
        var degree = [Int](repeating: 0, count: nodeCount + 1)
        for link in topology.links {
            guard let a = index[link.a], let b = index[link.b], a != b else { continue }
            ends.append((a, b))
            degree[a] += 1
            degree[b] += 1
        }
        var start = [Int](repeating: 0, count: nodeCount + 1)
        for v in 0..<nodeCount { start[v + 1] = start[v] + degree[v] }
        var fill = start
        var adjacency = [Int](repeating: 0, count: start[nodeCount])
        for (a, b) in ends {
            adjacency[fill[a]] = b
            fill[a] += 1
            adjacency[fill[b]] = a
            fill[b] += 1
        }
        for v in 0..<nodeCount where start[v + 1] - start[v] > 1 {
            adjacency[start[v]..<start[v + 1]].sort()
        }
        self.adjacencyStart = start
        self.adjacency = adjacency
        self.aggregates = topology.switches.map { $0.aggregation != nil }

        var siteIds: [String: Int] = [:]
        var siteOf = [Int](repeating: -1, count: nodeCount)
        func id(_ site: String) -> Int {
            if let id = siteIds[site] { return id }
            siteIds[site] = siteIds.count
            return siteIds.count - 1
        }
        for (i, sw) in topology.switches.enumerated() { if let site = sw.site { siteOf[i] = id(site) } }
        for (i, host) in topology.hosts.enumerated() {
            let v = switchCount + i
            if let site = host.site {
                siteOf[v] = id(site)
            } else if start[v] < start[v + 1], adjacency[start[v]] < switchCount {
                siteOf[v] = siteOf[adjacency[start[v]]]
            }
        }
        self.siteOf = siteOf
        self.siteCount = siteIds.count
    }

    /// The same builder with the aggregation engines of `switches` taken out of service: they still
    /// forward (their children attach to the nearest aggregating switch above, as for any switch that
    /// cannot aggregate), as SHARP loses a switch's aggregation and not its routing.
    public func excluding(_ switches: Set<String>) -> TreeBuilder {
        var copy = self
        for (i, sw) in topology.switches.enumerated() where switches.contains(sw.name) { copy.aggregates[i] = false }
        return copy
    }

    /// Builds the tree for ranks `0..<hosts.count` where rank r runs on `hosts[r]` (host names; a
    /// host may appear for several ranks).
    public func build(hosts: [String]) throws -> AggregationTree {
        guard !hosts.isEmpty else { throw TreeError.noRanks }
        var rankNode = [Int](repeating: 0, count: hosts.count)
        for (rank, name) in hosts.enumerated() {
            guard let v = hostIndex[name] else { throw TreeError.unknownHost(rank: rank, host: name) }
            rankNode[rank] = v
        }
        // Distinct participant hosts, in order of their first rank.
        var firstRank = [Int](repeating: -1, count: nodeCount)
        var participants: [Int] = []
        for (rank, v) in rankNode.enumerated() where firstRank[v] < 0 {
            firstRank[v] = rank
            participants.append(v)
        }

        var search = Search(nodeCount: nodeCount)
        let root = try chooseRoot(participants: participants, rankNode: rankNode, firstRank: firstRank,
                                  hosts: hosts, search: &search)
        return shape(root: root, dist: search.rootDist, rankNode: rankNode, participants: participants,
                     hosts: hosts)
    }

    // MARK: - Root choice

    /// Reusable BFS buffers.
    private struct Search {
        var dist: [Int]
        var queue: [Int]
        /// Distances from the chosen root (kept from the BFS that proved it optimal).
        var rootDist: [Int] = []

        init(nodeCount: Int) {
            dist = [Int](repeating: -1, count: nodeCount)
            queue = [Int](repeating: 0, count: nodeCount)
        }
    }

    /// Breadth-first distances from `source` into `search.dist` (-1: unreached). Only the source and
    /// switches forward. With `stopAfter`, stops once that many nodes flagged in `targets` are
    /// reached: every node closer than the last one reached already has its distance.
    private func bfs(from source: Int, _ search: inout Search, targets: [Int]? = nil, stopAfter: Int = 0) {
        let switchCount = self.switchCount
        adjacencyStart.withUnsafeBufferPointer { start in
            adjacency.withUnsafeBufferPointer { adj in
                search.dist.withUnsafeMutableBufferPointer { dist in
                    search.queue.withUnsafeMutableBufferPointer { queue in
                        dist.update(repeating: -1)
                        var remaining = stopAfter
                        dist[source] = 0
                        queue[0] = source
                        var head = 0
                        var tail = 1
                        while head < tail {
                            let v = queue[head]
                            head += 1
                            guard v < switchCount || v == source else { continue }
                            let next = dist[v] + 1
                            for i in start[v]..<start[v + 1] {
                                let u = adj[i]
                                guard dist[u] < 0 else { continue }
                                dist[u] = next
                                queue[tail] = u
                                tail += 1
                                if let targets, targets[u] >= 0 {
                                    remaining -= 1
                                    if remaining == 0 { return }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The aggregating switch with the smallest eccentricity over the participants (lowest index on
    /// ties), restricted to the majority site when participants span sites.
    ///
    /// Exact without a BFS per candidate: a BFS from any participant p gives every candidate c a lower
    /// bound d(p, c) on its eccentricity. Take the candidate with the least (bound, index); one BFS
    /// from it gives its true eccentricity. If that equals the bound, no other candidate can do better
    /// (their bounds are no smaller) or tie with a lower index (theirs are strictly larger). Otherwise
    /// BFS from its farthest participant raises every bound — its own to its true value — and repeat.
    /// Regular fabrics settle in two or three rounds.
    private func chooseRoot(participants: [Int], rankNode: [Int], firstRank: [Int], hosts: [String],
                            search: inout Search) throws -> Int {
        bfs(from: participants[0], &search)
        for v in participants where search.dist[v] < 0 {
            throw TreeError.unreachable(rank: firstRank[v], host: hosts[firstRank[v]], from: hosts[0])
        }
        var candidates = (0..<switchCount).filter { aggregates[$0] && search.dist[$0] >= 0 }
        guard !candidates.isEmpty else { throw TreeError.noAggregatingSwitch }
        candidates = preferMajoritySite(candidates, rankNode: rankNode)

        var bound = candidates.map { search.dist[$0] }
        var missed: Int?
        while true {
            var best = 0
            for i in 1..<candidates.count where bound[i] < bound[best] { best = i }
            guard bound[best] < Int.max else {
                // Every candidate misses someone: only a host's own links joined them to rank 0.
                let v = missed ?? participants[0]
                throw TreeError.unreachable(rank: firstRank[v], host: hosts[firstRank[v]], from: hosts[0])
            }
            let candidate = candidates[best]
            bfs(from: candidate, &search, targets: firstRank, stopAfter: participants.count)
            if let unreached = participants.first(where: { search.dist[$0] < 0 }) {
                // Hosts do not forward, so a multi-homed host can link switches that no switch path joins.
                bound[best] = Int.max
                missed = missed ?? unreached
                continue
            }
            var farthest = participants[0]
            var eccentricity = -1
            for v in participants where search.dist[v] > eccentricity {
                eccentricity = search.dist[v]
                farthest = v
            }
            if eccentricity == bound[best] {
                search.rootDist = search.dist
                return candidate
            }
            bfs(from: farthest, &search)
            for i in candidates.indices where bound[i] < Int.max {
                bound[i] = max(bound[i], search.dist[candidates[i]])
            }
        }
    }

    /// When the ranks span two or more sites, keeps only candidates in the site with most ranks (ties:
    /// the site of the lowest such rank). Unchanged if that site has no aggregating switch.
    private func preferMajoritySite(_ candidates: [Int], rankNode: [Int]) -> [Int] {
        guard siteCount > 1 else { return candidates }
        var ranks = [Int](repeating: 0, count: siteCount)
        var order: [Int] = []
        for v in rankNode {
            let site = siteOf[v]
            guard site >= 0 else { continue }
            if ranks[site] == 0 { order.append(site) }
            ranks[site] += 1
        }
        guard order.count > 1 else { return candidates }
        var majority = order[0]
        for site in order where ranks[site] > ranks[majority] { majority = site }
        let inSite = candidates.filter { siteOf[$0] == majority }
        return inSite.isEmpty ? candidates : inSite
    }

    // MARK: - Shape

    private func shape(root initialRoot: Int, dist: [Int], rankNode: [Int], participants: [Int],
                       hosts: [String]) -> AggregationTree {
        // Shortest-path parents, walked up from every participant; `used` collects the switches met.
        var parent = [Int](repeating: -1, count: nodeCount)
        var used: [Int] = []
        for p in participants {
            var v = p
            while v != initialRoot && parent[v] < 0 {
                let level = dist[v] - 1
                var u = -1
                for i in adjacencyStart[v]..<adjacencyStart[v + 1] {
                    let w = adjacency[i]
                    if w >= switchCount { break }
                    if dist[w] == level {
                        u = w
                        break
                    }
                }
                precondition(u >= 0, "BFS distances are inconsistent")
                parent[v] = u
                if v < switchCount { used.append(v) }
                v = u
            }
        }
        // Each switch was appended once (when its parent was set); order them top-down.
        used.sort { dist[$0] != dist[$1] ? dist[$0] < dist[$1] : $0 < $1 }

        // Nearest aggregating ancestor of every used switch, then child counts before collapsing.
        var aggUp = [Int](repeating: -1, count: switchCount)
        func up(_ v: Int, skip: (Int) -> Bool) -> Int {
            let p = parent[v]
            return p == initialRoot || !skip(p) ? p : aggUp[p]
        }
        for v in used { aggUp[v] = up(v) { !aggregates[$0] } }
        var childCount = [Int](repeating: 0, count: switchCount)
        for v in rankNode { childCount[up(v) { !aggregates[$0] }] += 1 }
        for v in used where aggregates[v] { childCount[aggUp[v]] += 1 }

        // Collapse single-child aggregators: recompute ancestors skipping them too.
        var inTree = [Bool](repeating: false, count: switchCount)
        inTree[initialRoot] = true
        for v in used where aggregates[v] && childCount[v] > 1 { inTree[v] = true }
        for v in used { aggUp[v] = up(v) { !inTree[$0] } }
        func treeParent(_ v: Int) -> Int { v < switchCount ? aggUp[v] : up(v) { !inTree[$0] } }

        // Children lists (workers in rank order, then aggregators top-down).
        var children = [[AggregationTree.Child]](repeating: [], count: switchCount)
        var treeNodes = [initialRoot]
        for v in used where inTree[v] { treeNodes.append(v) }
        for (rank, v) in rankNode.enumerated() { children[treeParent(v)].append(.worker(rank: rank)) }
        var childSwitches = [[Int]](repeating: [], count: switchCount)
        for v in treeNodes.dropFirst() { childSwitches[aggUp[v]].append(v) }

        // A root whose only child is an aggregator hands the root down.
        var root = initialRoot
        while children[root].isEmpty && childSwitches[root].count == 1 {
            root = childSwitches[root][0]
        }

        // Smallest rank beneath every tree node: ranks ascending, so the first to arrive is the least.
        var minRank = [Int](repeating: -1, count: switchCount)
        for (rank, v) in rankNode.enumerated() {
            var x = treeParent(v)
            while x >= 0 && minRank[x] < 0 {
                minRank[x] = rank
                x = x == initialRoot ? -1 : aggUp[x]
            }
        }

        var level = [Int](repeating: 0, count: switchCount)
        var nodes: [String: AggregationTree.Node] = [:]
        nodes.reserveCapacity(treeNodes.count)
        for v in treeNodes where v == root || dist[v] > dist[root] {
            if v != root { level[v] = level[aggUp[v]] + 1 }
            var list = children[v]
            if !childSwitches[v].isEmpty {
                // Workers are already in rank order; merge in the switches by their smallest rank.
                var keyed: [(key: Int, child: AggregationTree.Child)] = list.map { child in
                    guard case .worker(let rank) = child else { return (Int.max, child) }
                    return (rank, child)
                }
                for child in childSwitches[v] {
                    keyed.append((minRank[child], .aggregator(name: topology.switches[child].name)))
                }
                keyed.sort { $0.key < $1.key }
                list = keyed.map(\.child)
            }
            let parentName = v == root ? nil : topology.switches[aggUp[v]].name
            let name = topology.switches[v].name
            nodes[name] = AggregationTree.Node(name: name, parent: parentName, children: list, level: level[v])
        }
        return AggregationTree(root: topology.switches[root].name, nodes: nodes, hosts: hosts)
    }
}
