import Testing
@testable import TributaryCore

/// What each link of a tree carried, as job summaries record it: the host links carry what each rank
/// sent and received, a switch's uplink one copy of its subtree's data each way, the host ring each
/// rank's bytes to its successor.
@Suite struct LinkLoadTests {
    static func defaultTree(hosts: [String]? = nil) throws -> (Topology, AggregationTree) {
        let topology = try loadTopologyConfig("default.yaml")
        return (topology, try TreeBuilder(topology: topology).build(hosts: hosts ?? topology.hostNames))
    }

    static func hostLoads(_ sent: [Int], _ received: [Int]) -> [LinkLoad] {
        sent.indices.map { r in
            LinkLoad(from: "h\(r)", to: r < 4 ? "leaf0" : "leaf1", bytesUp: sent[r], bytesDown: received[r])
        }
    }

    // MARK: - linkLoads

    @Test func allreduceCarriesOneCopyEachWayOnEveryLink() throws {
        let (_, tree) = try Self.defaultTree()
        let n = 1 << 20
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: Array(repeating: n, count: 8),
                                   bytesReceived: Array(repeating: n, count: 8))
        let expected = Self.hostLoads(Array(repeating: n, count: 8), Array(repeating: n, count: 8))
            + [LinkLoad(from: "leaf0", to: "spine0", bytesUp: n, bytesDown: n),
               LinkLoad(from: "leaf1", to: "spine0", bytesUp: n, bytesDown: n)]
        #expect(loads == expected)
    }

    @Test func reduceSendsTheResultDownOnlyTowardsTheRoot() throws {
        let (_, tree) = try Self.defaultTree()
        let n = 4000
        let received = (0..<8).map { $0 == 5 ? n : 0 }
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: Array(repeating: n, count: 8),
                                   bytesReceived: received)
        #expect(loads == Self.hostLoads(Array(repeating: n, count: 8), received)
            + [LinkLoad(from: "leaf0", to: "spine0", bytesUp: n, bytesDown: 0),
               LinkLoad(from: "leaf1", to: "spine0", bytesUp: n, bytesDown: n)])
    }

    @Test func broadcastSendsUpOnlyFromTheRootsSubtree() throws {
        let (_, tree) = try Self.defaultTree()
        let n = 777
        let sent = (0..<8).map { $0 == 2 ? n : 0 }
        let received = (0..<8).map { $0 == 2 ? 0 : n }
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: sent, bytesReceived: received)
        #expect(loads == Self.hostLoads(sent, received)
            + [LinkLoad(from: "leaf0", to: "spine0", bytesUp: n, bytesDown: n),
               LinkLoad(from: "leaf1", to: "spine0", bytesUp: 0, bytesDown: n)])
    }

    @Test func ringSendsEachRanksBytesToItsSuccessor() throws {
        let (_, tree) = try Self.defaultTree()
        let sent = (0..<8).map { 100 * ($0 + 1) }
        let loads = tree.linkLoads(algorithm: .ring, bytesSent: sent, bytesReceived: sent)
        #expect(loads == (0..<8).map { r in
            LinkLoad(from: "h\(r)", to: "h\((r + 1) % 8)", bytesUp: sent[r], bytesDown: 0)
        })
    }

    @Test func hostRingTreeIsARingWhateverTheAlgorithmSays() {
        let root = AggregationTree.hostRingRoot
        let tree = AggregationTree(root: root, nodes: [
            root: .init(name: root, parent: nil, children: (0..<3).map { .worker(rank: $0) }, level: 0),
        ], hosts: ["a", "b", "c"])
        #expect(tree.isHostRing)
        #expect(tree.linkLoads(algorithm: .inNetwork, bytesSent: [1, 2, 3], bytesReceived: [0, 0, 0]) == [
            LinkLoad(from: "a", to: "b", bytesUp: 1, bytesDown: 0),
            LinkLoad(from: "b", to: "c", bytesUp: 2, bytesDown: 0),
            LinkLoad(from: "c", to: "a", bytesUp: 3, bytesDown: 0),
        ])
        #expect(tree.edges == [["a", "b"], ["b", "c"], ["c", "a"]])
    }

    @Test func ringNeighboursOnOneHostCrossNoLink() throws {
        let (_, tree) = try Self.defaultTree(hosts: ["h0", "h0", "h4"])
        let loads = tree.linkLoads(algorithm: .ring, bytesSent: [10, 20, 30], bytesReceived: [0, 0, 0])
        #expect(loads == [LinkLoad(from: "h0", to: "h4", bytesUp: 20, bytesDown: 0),
                          LinkLoad(from: "h4", to: "h0", bytesUp: 30, bytesDown: 0)])
        let root = AggregationTree.hostRingRoot
        let ring = AggregationTree(root: root, nodes: [
            root: .init(name: root, parent: nil, children: (0..<3).map { .worker(rank: $0) }, level: 0),
        ], hosts: ["h6", "h6", "h6"])
        #expect(ring.linkLoads(algorithm: .ring, bytesSent: [1, 1, 1], bytesReceived: [1, 1, 1]).isEmpty)
        #expect(ring.edges.isEmpty)
    }

    @Test func severalRanksOnOneHostShareItsLink() throws {
        let (_, tree) = try Self.defaultTree(hosts: ["h0", "h0", "h1", "h4", "h4"])
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: [1, 2, 3, 4, 5], bytesReceived: [6, 7, 8, 9, 10])
        #expect(LinkLoad.merged(loads) == [
            LinkLoad(from: "h0", to: "leaf0", bytesUp: 3, bytesDown: 13),
            LinkLoad(from: "h1", to: "leaf0", bytesUp: 3, bytesDown: 8),
            LinkLoad(from: "h4", to: "leaf1", bytesUp: 9, bytesDown: 19),
            LinkLoad(from: "leaf0", to: "spine0", bytesUp: 3, bytesDown: 8),
            LinkLoad(from: "leaf1", to: "spine0", bytesUp: 5, bytesDown: 10),
        ])
        #expect(tree.edges == [["leaf0", "spine0"], ["leaf1", "spine0"], ["h0", "leaf0"], ["h1", "leaf0"],
                               ["h4", "leaf1"]])
    }

    @Test func passThroughSwitchesAreSkippedByTreeEdges() throws {
        var topology = try loadTopologyConfig("default.yaml")
        topology.switches[1].aggregation = nil  // leaf0 only forwards
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: Array(repeating: 5, count: 8),
                                   bytesReceived: Array(repeating: 6, count: 8))
        #expect(Array(loads.prefix(4))
            == (0..<4).map { LinkLoad(from: "h\($0)", to: "spine0", bytesUp: 5, bytesDown: 6) })
        #expect(tree.edges.contains(["h0", "spine0"]))
        #expect(tree.edges.contains(["leaf1", "spine0"]))
    }

    @Test func mismatchedOrTinyInputsGiveNoLoads() throws {
        let (_, tree) = try Self.defaultTree()
        #expect(tree.linkLoads(algorithm: .inNetwork, bytesSent: [1, 2], bytesReceived: [1, 2]).isEmpty)
        let (_, single) = try Self.defaultTree(hosts: ["h3"])
        #expect(single.linkLoads(algorithm: .ring, bytesSent: [9], bytesReceived: [9]).isEmpty)
        #expect(single.linkLoads(algorithm: .inNetwork, bytesSent: [9], bytesReceived: [8])
            == [LinkLoad(from: "h3", to: "leaf0", bytesUp: 9, bytesDown: 8)])
    }

    // MARK: - edges

    @Test func edgesListEveryChildOnceTopDown() throws {
        let (_, tree) = try Self.defaultTree()
        #expect(tree.edges == [["leaf0", "spine0"], ["leaf1", "spine0"]]
            + (0..<8).map { ["h\($0)", $0 < 4 ? "leaf0" : "leaf1"] })
        let fatTree = try loadTopologyConfig("fat-tree.yaml")
        let big = try TreeBuilder(topology: fatTree).build(hosts: fatTree.hostNames)
        let edges = big.edges
        #expect(Set(edges).count == edges.count)
        #expect(edges.count == fatTree.hosts.count + big.nodes.count - 1)
    }

    // MARK: - merged

    @Test func mergedSumsEitherOrientationInFirstSeenOrder() {
        let loads = [
            LinkLoad(from: "h0", to: "leaf0", bytesUp: 1, bytesDown: 2),
            LinkLoad(from: "leaf0", to: "spine0", bytesUp: 10, bytesDown: 20),
            LinkLoad(from: "leaf0", to: "h0", bytesUp: 100, bytesDown: 200),
            LinkLoad(from: "h0", to: "leaf0", bytesUp: 1000, bytesDown: 2000),
            LinkLoad(from: "h1", to: "h1", bytesUp: 5, bytesDown: 5),
        ]
        #expect(LinkLoad.merged(loads) == [
            LinkLoad(from: "h0", to: "leaf0", bytesUp: 1201, bytesDown: 2102),
            LinkLoad(from: "leaf0", to: "spine0", bytesUp: 10, bytesDown: 20),
            LinkLoad(from: "h1", to: "h1", bytesUp: 5, bytesDown: 5),
        ])
        #expect(LinkLoad.merged([]).isEmpty)
    }

    @Test func mergingOperationsAddsUp() throws {
        let (_, tree) = try Self.defaultTree()
        let once = tree.linkLoads(algorithm: .inNetwork, bytesSent: Array(repeating: 8, count: 8),
                                  bytesReceived: Array(repeating: 8, count: 8))
        let ring = tree.linkLoads(algorithm: .ring, bytesSent: Array(repeating: 3, count: 8),
                                  bytesReceived: Array(repeating: 3, count: 8))
        let total = LinkLoad.merged(LinkLoad.merged(once + once) + ring)
        #expect(total.first == LinkLoad(from: "h0", to: "leaf0", bytesUp: 16, bytesDown: 16))
        #expect(total.contains(LinkLoad(from: "h3", to: "h4", bytesUp: 3, bytesDown: 0)))
        // The ring's pairs are all host to host, none of them a pair of the tree's.
        #expect(total.count == 10 + 8)
    }
}
