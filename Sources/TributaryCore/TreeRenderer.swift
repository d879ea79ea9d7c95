/// Human views of an aggregation tree: an indented text tree for terminals and logs, and Graphviz DOT
/// showing the tree over the full (greyed) topology.
///
/// Both are for people planning or debugging placements, so they favour brevity at scale: rank lists
/// are compressed into ranges and long child lists are cut to `maxChildren` lines with a count of the
/// rest, so a 100k-rank tree still prints in a screenful or two.
public enum TreeRenderer {
    /// An indented tree:
    /// ```
    /// tree for 8 ranks, root spine0, 2 levels
    /// spine0 (slots 64 × 256 KiB)
    /// ├─ leaf0  ranks 0-3
    /// │  ├─ rank 0 @ h0
    /// …
    /// ```
    /// With a topology, the root line shows its slot resources. At most `maxChildren` lines per node.
    public static func text(_ tree: AggregationTree, topology: Topology?, maxChildren: Int = 16) -> String {
        let limit = max(maxChildren, 2)
        let ranks = ranksUnder(tree)
        let resources = topology.map(resourceIndex) ?? [:]
        let levels = tree.depth
        var out = "tree for \(tree.worldSize) rank\(tree.worldSize == 1 ? "" : "s"), root \(tree.root), "
            + "\(levels) level\(levels == 1 ? "" : "s")\n"
        out += tree.root + resourceSuffix(resources[tree.root]) + "\n"

        func emit(_ name: String, indent: String) {
            guard let node = tree.nodes[name] else { return }
            let children = node.children
            let shown = children.count > limit ? limit - 1 : children.count
            for (i, child) in children.prefix(shown).enumerated() {
                let last = i == children.count - 1
                let branch = indent + (last ? "└─ " : "├─ ")
                switch child {
                case .worker(let rank):
                    let host = rank < tree.hosts.count ? tree.hosts[rank] : "?"
                    out += "\(branch)rank \(rank) @ \(host)\n"
                case .aggregator(let childName):
                    out += "\(branch)\(childName)  ranks \(rangeList(ranks[childName] ?? []))\n"
                    emit(childName, indent: indent + (last ? "   " : "│  "))
                }
            }
            if shown < children.count {
                let hidden = children[shown...].flatMap { child -> [Int] in
                    switch child {
                    case .worker(let rank): return [rank]
                    case .aggregator(let childName): return ranks[childName] ?? []
                    }
                }.sorted()
                out += "\(indent)└─ … \(children.count - shown) more (ranks \(rangeList(hidden)))\n"
            }
        }
        emit(tree.root, indent: "")
        return out
    }

    /// Graphviz DOT: every switch, host and link of `topology` in grey; the tree's aggregators in black,
    /// and its parent→child edges in bold, labelled with the child index (the fold order). Tree edges
    /// may skip pass-through and collapsed switches, so they are drawn as their own edges.
    public static func dot(_ tree: AggregationTree, topology: Topology) -> String {
        var out = "graph \(quote(topology.name)) {\n"
        let title = "\(topology.name): tree for \(tree.worldSize) ranks, root \(tree.root)"
        out += "  graph [fontname=\"Helvetica\", label=\(quote(title)), labelloc=t];\n"
        out += "  node [fontname=\"Helvetica\", color=gray70, fontcolor=gray55];\n"
        out += "  edge [fontname=\"Helvetica\", color=gray85];\n"

        // Ranks by host, for host labels.
        var ranksOnHost: [String: [Int]] = [:]
        for (rank, host) in tree.hosts.enumerated() { ranksOnHost[host, default: []].append(rank) }

        // Tiers in first-seen order become rows.
        var tiers: [String] = []
        var byTier: [String: [String]] = [:]
        for sw in topology.switches {
            if byTier[sw.tier] == nil { tiers.append(sw.tier) }
            byTier[sw.tier, default: []].append(sw.name)
            var attributes = ["shape=box"]
            if sw.aggregation != nil { attributes.append("peripheries=2") }
            if let node = tree.nodes[sw.name] {
                attributes += ["color=black", "fontcolor=black", "style=bold"]
                let role = node.parent == nil ? "root" : "level \(node.level)"
                attributes.append("label=\(quote("\(sw.name)\n\(role)"))")
            }
            out += "  \(quote(sw.name)) [\(attributes.joined(separator: ", "))];\n"
        }
        for host in topology.hosts {
            var attributes = ["shape=ellipse"]
            if let ranks = ranksOnHost[host.name] {
                attributes += ["color=black", "fontcolor=black",
                               "label=\(quote("\(host.name)\nrank\(ranks.count == 1 ? "" : "s") \(rangeList(ranks))"))"]
            }
            out += "  \(quote(host.name)) [\(attributes.joined(separator: ", "))];\n"
        }
        for tier in tiers {
            out += "  { rank=same; \(byTier[tier, default: []].map(quote).joined(separator: "; ")); }\n"
        }
        out += "  { rank=same; \(topology.hosts.map { quote($0.name) }.joined(separator: "; ")); }\n"
        // Dot ranks an edge's first end above its second: list the earlier switch first (file order
        // is top tier first for generated fabrics) and switches before hosts, so the picture reads
        // root-side up.
        var switchIndex: [String: Int] = [:]
        for (i, sw) in topology.switches.enumerated() { switchIndex[sw.name] = i }
        for link in topology.links {
            let a = switchIndex[link.a] ?? Int.max
            let b = switchIndex[link.b] ?? Int.max
            let (upper, lower) = a <= b ? (link.a, link.b) : (link.b, link.a)
            out += "  \(quote(upper)) -- \(quote(lower));\n"
        }

        out += "  // aggregation tree\n"
        for name in tree.aggregatorsTopDown {
            guard let node = tree.nodes[name] else { continue }
            for (index, child) in node.children.enumerated() {
                let target: String
                var label = "\(index)"
                switch child {
                case .aggregator(let childName):
                    target = childName
                case .worker(let rank):
                    target = rank < tree.hosts.count ? tree.hosts[rank] : "rank \(rank)"
                    label += ": r\(rank)"
                }
                out += "  \(quote(name)) -- \(quote(target)) [color=black, penwidth=3, constraint=false, "
                    + "label=\(quote(label)), fontcolor=black];\n"
            }
        }
        out += "}\n"
        return out
    }

    /// `0-3, 8, 10-12`; more than `maxRanges` ranges end in `… (+N more)`.
    public static func rangeList(_ sortedRanks: [Int], maxRanges: Int = 8) -> String {
        guard var start = sortedRanks.first else { return "none" }
        var parts: [String] = []
        var total = 0
        var end = start
        func flush() {
            total += 1
            if parts.count < maxRanges { parts.append(start == end ? "\(start)" : "\(start)-\(end)") }
        }
        for rank in sortedRanks.dropFirst() {
            if rank == end + 1 {
                end = rank
            } else if rank != end {
                flush()
                start = rank
                end = rank
            }
        }
        flush()
        if total > parts.count { parts.append("… (+\(total - parts.count) more)") }
        return parts.joined(separator: ", ")
    }

    // MARK: - Helpers

    /// Sorted ranks beneath every node, computed bottom-up once (the tree's own `ranks(underNode:)`
    /// recomputes per call, which is quadratic over a whole large tree).
    private static func ranksUnder(_ tree: AggregationTree) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for name in tree.aggregatorsTopDown.reversed() {
            guard let node = tree.nodes[name] else { continue }
            var ranks: [Int] = []
            for child in node.children {
                switch child {
                case .worker(let rank): ranks.append(rank)
                case .aggregator(let childName): ranks += out[childName] ?? []
                }
            }
            out[name] = ranks.sorted()
        }
        return out
    }

    private static func resourceIndex(_ topology: Topology) -> [String: AggregationResources] {
        var out: [String: AggregationResources] = [:]
        for sw in topology.switches { if let res = sw.aggregation { out[sw.name] = res } }
        return out
    }

    private static func resourceSuffix(_ resources: AggregationResources?) -> String {
        guard let resources else { return "" }
        return " (slots \(resources.slots) × \(TopologyUnits.formatSize(resources.slotBytes)))"
    }

    private static func quote(_ s: String) -> String {
        "\"" + s.replacingEscapes() + "\""
    }
}

private extension String {
    /// DOT string escaping: quotes and backslashes; newlines become `\n`.
    func replacingEscapes() -> String {
        var out = ""
        for ch in self {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
