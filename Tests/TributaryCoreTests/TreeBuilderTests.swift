import Foundation
import Testing
@testable import TributaryCore

/// Structural invariants every built tree must hold, whatever the topology.
func checkTreeInvariants(_ tree: AggregationTree, _ topology: Topology,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let aggregating = Set(topology.aggregatingSwitches.map(\.name))
    var seen = [Int](repeating: 0, count: tree.worldSize)
    var minRank: [String: Int] = [:]
    func visit(_ name: String) -> Int {
        guard let node = tree.nodes[name] else {
            Issue.record("missing node \(name)", sourceLocation: sourceLocation)
            return Int.max
        }
        var keys: [Int] = []
        for child in node.children {
            switch child {
            case .worker(let rank):
                seen[rank] += 1
                keys.append(rank)
            case .aggregator(let childName):
                #expect(tree.nodes[childName]?.parent == name, sourceLocation: sourceLocation)
                #expect(tree.nodes[childName]?.level == node.level + 1, sourceLocation: sourceLocation)
                keys.append(visit(childName))
            }
        }
        #expect(keys == keys.sorted(), "children of \(name) not ordered by smallest rank",
                sourceLocation: sourceLocation)
        #expect(!node.children.isEmpty, sourceLocation: sourceLocation)
        if name != tree.root {
            #expect(node.children.count >= 2, "\(name) should have been collapsed", sourceLocation: sourceLocation)
        }
        #expect(aggregating.contains(name), "\(name) cannot aggregate", sourceLocation: sourceLocation)
        let least = keys.min() ?? Int.max
        minRank[name] = least
        return least
    }
    #expect(tree.nodes[tree.root]?.parent == nil, sourceLocation: sourceLocation)
    #expect(tree.nodes[tree.root]?.level == 0, sourceLocation: sourceLocation)
    _ = visit(tree.root)
    #expect(seen.allSatisfy { $0 == 1 }, "every rank exactly once", sourceLocation: sourceLocation)
    #expect(minRank.count == tree.nodes.count, "every node reachable from the root", sourceLocation: sourceLocation)
}

func workerChildren(_ ranks: ClosedRange<Int>) -> [AggregationTree.Child] { ranks.map { .worker(rank: $0) } }

@Suite struct TreeBuilderTests {
    @Test func defaultConfigTree() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.root == "spine0")
        #expect(tree.nodes["spine0"]?.children == [.aggregator(name: "leaf0"), .aggregator(name: "leaf1")])
        #expect(tree.nodes["leaf0"] == .init(name: "leaf0", parent: "spine0", children: workerChildren(0...3), level: 1))
        #expect(tree.nodes["leaf1"] == .init(name: "leaf1", parent: "spine0", children: workerChildren(4...7), level: 1))
        #expect(tree.depth == 2)
        #expect(tree.hosts == topology.hostNames)
        checkTreeInvariants(tree, topology)
    }

    /// A switch whose aggregation engine is out of service still forwards: its ranks attach to the
    /// next aggregating switch on their path; with every engine out there is no tree.
    @Test func excludedSwitchesOnlyForward() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let withoutLeaf = try TreeBuilder(topology: topology).excluding(["leaf0"]).build(hosts: topology.hostNames)
        #expect(withoutLeaf.root == "spine0")
        #expect(withoutLeaf.nodes["leaf0"] == nil)
        #expect(withoutLeaf.nodes["spine0"]?.children == workerChildren(0...3) + [.aggregator(name: "leaf1")])
        checkTreeInvariants(withoutLeaf, topology)
        let withoutSpine = try TreeBuilder(topology: topology).excluding(["spine0"]).build(hosts: topology.hostNames)
        #expect(withoutSpine.nodes["spine0"] == nil)
        #expect(withoutSpine.nodes.count == 2, "one leaf becomes the root, the other its child")
        checkTreeInvariants(withoutSpine, topology)
        #expect(throws: TreeError.noAggregatingSwitch) {
            try TreeBuilder(topology: topology).excluding(["leaf0", "leaf1", "spine0"]).build(hosts: topology.hostNames)
        }
    }

    @Test func participantsUnderOneLeafMakeTheLeafTheRoot() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h0", "h1", "h2"])
        #expect(tree.root == "leaf0")
        #expect(tree.nodes.count == 1)
        #expect(tree.nodes["leaf0"]?.children == workerChildren(0...2))
        checkTreeInvariants(tree, topology)
    }

    @Test func singleChildAggregatorIsCollapsed() throws {
        let topology = try loadTopologyConfig("default.yaml")
        // leaf1 would hold only rank 2: it is collapsed and rank 2 hangs off the spine directly.
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h0", "h1", "h4"])
        #expect(tree.root == "spine0")
        #expect(tree.nodes["spine0"]?.children == [.aggregator(name: "leaf0"), .worker(rank: 2)])
        #expect(tree.nodes["leaf1"] == nil)
        #expect(tree.nodes["leaf0"]?.children == workerChildren(0...1))
        // Order follows the smallest rank: here the lone worker comes first.
        let swapped = try TreeBuilder(topology: topology).build(hosts: ["h5", "h0", "h1"])
        #expect(swapped.nodes["spine0"]?.children == [.worker(rank: 0), .aggregator(name: "leaf0")])
        checkTreeInvariants(tree, topology)
        checkTreeInvariants(swapped, topology)
    }

    @Test func singleParticipant() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h5"])
        #expect(tree.root == "leaf1")
        #expect(tree.nodes["leaf1"]?.children == [.worker(rank: 0)])
        checkTreeInvariants(tree, topology)
    }

    @Test func nonAggregatingLeafPassesThrough() throws {
        var topology = try loadTopologyConfig("default.yaml")
        topology.switches[1].aggregation = nil  // leaf0 only forwards
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.root == "spine0")
        #expect(tree.nodes["spine0"]?.children == workerChildren(0...3) + [.aggregator(name: "leaf1")])
        #expect(tree.nodes["leaf0"] == nil)
        checkTreeInvariants(tree, topology)
        // Only ranks under the forwarding leaf: the spine is the nearest aggregator.
        let local = try TreeBuilder(topology: topology).build(hosts: ["h0", "h1"])
        #expect(local.root == "spine0")
        #expect(local.nodes["spine0"]?.children == workerChildren(0...1))
    }

    @Test func severalRanksPerHost() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h0", "h0", "h1", "h4", "h4"])
        #expect(tree.root == "spine0")
        #expect(tree.nodes["leaf0"]?.children == workerChildren(0...2))
        // Two ranks on one host still make two children: leaf1 is kept.
        #expect(tree.nodes["leaf1"]?.children == workerChildren(3...4))
        checkTreeInvariants(tree, topology)
        let oneHost = try TreeBuilder(topology: topology).build(hosts: ["h6", "h6", "h6", "h6"])
        #expect(oneHost.root == "leaf1")
        #expect(oneHost.nodes["leaf1"]?.children == workerChildren(0...3))
    }

    @Test func multiSiteCrossesTheLongLinkOncePerRemoteSite() throws {
        let topology = try loadTopologyConfig("multi-site.yaml")
        let builder = TreeBuilder(topology: topology)
        let tree = try builder.build(hosts: topology.hostNames)
        #expect(tree.root == "dc1-spine0")
        #expect(tree.nodes["dc2-spine0"]?.parent == "dc1-spine0")
        #expect(crossSiteTreeEdges(tree, topology) == ["dc1-spine0 -> dc2-spine0"])
        checkTreeInvariants(tree, topology)

        // Most ranks in dc2: the root moves there and dc1 crosses once.
        let hosts = ["dc1-h0", "dc1-h2", "dc2-h0", "dc2-h1", "dc2-h2", "dc2-h3"]
        let moved = try builder.build(hosts: hosts)
        #expect(moved.root == "dc2-spine0")
        #expect(crossSiteTreeEdges(moved, topology) == ["dc2-spine0 -> dc1-spine0"])
        checkTreeInvariants(moved, topology)
    }

    @Test func threeSitesEachCrossOnce() throws {
        let topology = try Topology.parse(yaml: topologyHeader + """
            generate:
              - { kind: leaf-spine, prefix: a-, site: a, spines: 1, leaves: 2, hosts_per_leaf: 3 }
              - { kind: leaf-spine, prefix: b-, site: b, spines: 1, leaves: 2, hosts_per_leaf: 2 }
              - { kind: leaf-spine, prefix: c-, site: c, spines: 1, leaves: 3, hosts_per_leaf: 1 }
            switches: [ { name: wan, tier: wan, aggregation: none } ]
            links:
              - { a: wan, b: a-spine0, latency: 10ms }
              - { a: wan, b: b-spine0, latency: 10ms }
              - { a: wan, b: c-spine0, latency: 30ms }
            """, source: "three.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.root == "a-spine0")
        #expect(crossSiteTreeEdges(tree, topology) == ["a-spine0 -> b-spine0", "a-spine0 -> c-spine0"])
        checkTreeInvariants(tree, topology)
    }

    @Test func fatTreeCoversEveryRankAndIsDeterministic() throws {
        let topology = try loadTopologyConfig("fat-tree.yaml")
        let builder = TreeBuilder(topology: topology)
        let tree = try builder.build(hosts: topology.hostNames)
        #expect(tree.root == "core0")
        #expect(tree.depth == 3)
        #expect(tree.nodes["core0"]?.children.count == 8)
        checkTreeInvariants(tree, topology)
        #expect(try builder.build(hosts: topology.hostNames) == tree)
        #expect(try TreeBuilder(topology: topology).build(hosts: topology.hostNames) == tree)

        // A scattered subset, in a shuffled (seeded) order, several ranks per host.
        var generator = SplitMix64(seed: 7)
        let hosts = (0..<300).map { _ in topology.hostNames[Int(generator.next() % 128)] }
        let scattered = try builder.build(hosts: hosts)
        checkTreeInvariants(scattered, topology)
        #expect(try builder.build(hosts: hosts) == scattered)

        // Within one pod the root is an aggregation switch of that pod, not a core.
        let pod = try builder.build(hosts: Array(topology.hostNames[16..<32]))
        #expect(pod.root == "agg-p1-0")
        checkTreeInvariants(pod, topology)
    }

    @Test func leafSpineLargeWithTwoSpines() throws {
        let topology = try loadTopologyConfig("leaf-spine-large.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.root == "spine0")
        #expect(tree.nodes["spine0"]?.children == (0..<8).map { .aggregator(name: "leaf\($0)") })
        #expect(tree.nodes["leaf7"]?.children == workerChildren(56...63))
        checkTreeInvariants(tree, topology)
    }

    @Test func dragonflyTree() throws {
        let topology = try Topology.parse(yaml: topologyHeader + """
            generate: { kind: dragonfly, groups: 5, routers_per_group: 2, hosts_per_router: 2,
                        global_links_per_router: 2 }
            """, source: "d.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        checkTreeInvariants(tree, topology)
    }

    @Test func errors() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let builder = TreeBuilder(topology: topology)
        #expect(throws: TreeError.noRanks) { try builder.build(hosts: []) }
        #expect(throws: TreeError.unknownHost(rank: 1, host: "h99")) { try builder.build(hosts: ["h0", "h99"]) }

        // Two fabrics with no link between them.
        let split = try Topology.parse(yaml: topologyHeader + """
            generate:
              - { kind: leaf-spine, prefix: a-, spines: 1, leaves: 1, hosts_per_leaf: 2 }
              - { kind: leaf-spine, prefix: b-, spines: 1, leaves: 1, hosts_per_leaf: 2 }
            """, source: "split.yaml")
        #expect(throws: TreeError.unreachable(rank: 2, host: "b-h0", from: "a-h0")) {
            try TreeBuilder(topology: split).build(hosts: ["a-h0", "a-h1", "b-h0"])
        }

        // h0 links to s1 and to the forwarding s2, but hosts never forward: s1, the only aggregator,
        // cannot reach h1 (behind s2) without passing through h0.
        let bridged = try Topology.parse(yaml: topologyHeader + """
            switches: [ { name: s1 }, { name: s2, aggregation: none } ]
            hosts: [h0, h1]
            links: [ { a: h0, b: s1 }, { a: h0, b: s2 }, { a: h1, b: s2 } ]
            """, source: "bridged.yaml")
        #expect(throws: TreeError.unreachable(rank: 1, host: "h1", from: "h0")) {
            try TreeBuilder(topology: bridged).build(hosts: ["h0", "h1"])
        }
        #expect(try TreeBuilder(topology: bridged).build(hosts: ["h0"]).root == "s1")

        // An island whose only switch forwards: nothing there can aggregate.
        var island = topology
        island.switches.append(.init(name: "relay", tier: "leaf"))
        island.hosts.append(.init(name: "x0"))
        island.links.append(.init(a: "x0", b: "relay", rate: 1e9))
        try island.validate()
        #expect(throws: TreeError.noAggregatingSwitch) { try TreeBuilder(topology: island).build(hosts: ["x0"]) }
        #expect(TreeError.noAggregatingSwitch.description.contains("aggregate"))
    }

    @Test func scaleFatTreeOver100kHosts() throws {
        let aggregation = AggregationResources.standard
        let options = Topology.GeneratorOptions(
            aggregation: ["core": aggregation, "agg": aggregation, "edge": aggregation],
            hostLink: .init(rate: 100e9), fabricLink: .init(rate: 400e9))
        let topology = try Topology.fatTree(k: 74, options: options)
        #expect(topology.hosts.count == 101_306)
        try topology.validate()
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.worldSize == 101_306)
        #expect(tree.root == "core0")
        #expect(tree.nodes.count == 1 + 74 + 74 * 37)
        checkTreeInvariants(tree, topology)
    }

    // MARK: - Rendering

    @Test func textRendering() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        let text = TreeRenderer.text(tree, topology: topology)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "tree for 8 ranks, root spine0, 2 levels")
        #expect(lines[1] == "spine0 (slots 64 × 256 KiB)")
        #expect(lines[2] == "├─ leaf0  ranks 0-3")
        #expect(lines[3] == "│  ├─ rank 0 @ h0")
        #expect(lines[6] == "│  └─ rank 3 @ h3")
        #expect(lines[7] == "└─ leaf1  ranks 4-7")
        #expect(lines[8] == "   ├─ rank 4 @ h4")
        #expect(lines.count == 12)
        #expect(TreeRenderer.text(tree, topology: nil).split(separator: "\n")[1] == "spine0")
    }

    @Test func textRenderingCutsLongLists() throws {
        let topology = try loadTopologyConfig("fat-tree.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        let text = TreeRenderer.text(tree, topology: topology, maxChildren: 3)
        #expect(text.contains("└─ … 6 more (ranks 32-127)"))
        #expect(TreeRenderer.rangeList([0, 1, 2, 3, 8, 10, 11, 12]) == "0-3, 8, 10-12")
        #expect(TreeRenderer.rangeList([1, 3, 5, 7], maxRanges: 2) == "1, 3, … (+2 more)")
        #expect(TreeRenderer.rangeList([]) == "none")
    }

    @Test func dotRendering() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h0", "h1", "h4", "h5"])
        let dot = TreeRenderer.dot(tree, topology: topology)
        #expect(dot.hasPrefix("graph \"default\" {"))
        #expect(dot.hasSuffix("}\n"))
        // Every topology link greyed, every tree edge bold with its child index.
        #expect(dot.components(separatedBy: "penwidth=3").count - 1 == 6)
        #expect(dot.contains("\"spine0\" -- \"leaf1\" [color=black, penwidth=3, constraint=false, label=\"1\""))
        #expect(dot.contains("\"leaf1\" -- \"h5\" [color=black, penwidth=3, constraint=false, label=\"1: r3\""))
        #expect(dot.contains("\"h7\" [shape=ellipse];"))
        #expect(dot.contains("\"leaf0\" -- \"h0\";"))
        #expect(dot.contains("\"spine0\" -- \"leaf1\";"))
    }
}

/// Tree edges whose two ends lie in different sites (an aggregator's site is its switch's; a worker's
/// is its host's), as `parent -> child`.
func crossSiteTreeEdges(_ tree: AggregationTree, _ topology: Topology) -> [String] {
    var site: [String: String] = [:]
    for sw in topology.switches { site[sw.name] = sw.site }
    for host in topology.hosts { site[host.name] = host.site }
    var out: [String] = []
    for name in tree.aggregatorsTopDown {
        for child in tree.nodes[name]?.children ?? [] {
            let childSite: String?
            switch child {
            case .aggregator(let childName): childSite = site[childName]
            case .worker(let rank): childSite = site[tree.hosts[rank]]
            }
            if childSite != site[name] { out.append("\(name) -> \(child)") }
        }
    }
    return out
}
