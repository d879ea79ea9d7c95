/// The tree one job's reduction runs on: which switches aggregate, who their children are and in
/// what order. Child order is the fold order (`((c0 ⊕ c1) ⊕ c2) ⊕ …`), so this value alone fixes
/// every bit of a float result; the coordinator ships it to aggregators and replays it on the host.
public struct AggregationTree: Sendable, Codable, Equatable {
    /// A child of an aggregation node: a worker rank or another aggregating switch.
    public enum Child: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
        case worker(rank: Int)
        case aggregator(name: String)

        public var description: String {
            switch self {
            case .worker(let rank): return "rank \(rank)"
            case .aggregator(let name): return name
            }
        }
    }

    /// One aggregating switch in the tree.
    public struct Node: Sendable, Codable, Equatable {
        public var name: String
        /// The parent switch, nil at the root.
        public var parent: String?
        /// Ordered children; index in this array is the child index on the wire.
        public var children: [Child]
        /// Depth from the root (root = 0).
        public var level: Int

        public init(name: String, parent: String?, children: [Child], level: Int) {
            self.name = name
            self.parent = parent
            self.children = children
            self.level = level
        }
    }

    public var root: String
    /// Nodes by switch name.
    public var nodes: [String: Node]
    /// Host name of every rank (rank = index).
    public var hosts: [String]

    public init(root: String, nodes: [String: Node], hosts: [String]) {
        self.root = root
        self.nodes = nodes
        self.hosts = hosts
    }

    public var worldSize: Int { hosts.count }

    /// The aggregation node a rank is attached to (its leaf).
    public func leaf(ofRank rank: Int) -> String? {
        for (name, node) in nodes where node.children.contains(.worker(rank: rank)) { return name }
        return nil
    }

    /// Index of `rank` among its leaf's children.
    public func childIndex(ofRank rank: Int) -> Int? {
        guard let leaf = leaf(ofRank: rank) else { return nil }
        return nodes[leaf]?.children.firstIndex(of: .worker(rank: rank))
    }

    /// Index of aggregator `name` among its parent's children.
    public func childIndex(ofAggregator name: String) -> Int? {
        guard let parent = nodes[name]?.parent else { return nil }
        return nodes[parent]?.children.firstIndex(of: .aggregator(name: name))
    }

    /// Every rank below `child`, ascending.
    public func ranks(under child: Child) -> [Int] {
        switch child {
        case .worker(let rank): return [rank]
        case .aggregator(let name): return ranks(underNode: name)
        }
    }

    /// Every rank below the switch `name`, ascending.
    public func ranks(underNode name: String) -> [Int] {
        guard let node = nodes[name] else { return [] }
        return node.children.flatMap { ranks(under: $0) }.sorted()
    }

    /// Switch names from the root down, breadth first, children in order.
    public var aggregatorsTopDown: [String] {
        var out: [String] = []
        var queue = [root]
        while !queue.isEmpty {
            let name = queue.removeFirst()
            out.append(name)
            for case .aggregator(let child) in nodes[name]?.children ?? [] { queue.append(child) }
        }
        return out
    }

    /// Depth of the tree in aggregation levels (1 = a single switch).
    public var depth: Int { (nodes.values.map(\.level).max() ?? 0) + 1 }
}
