import Foundation
@testable import Fabric
import Testing
import TributaryCore

@Suite struct FabricPlanTests {
    @Test func defaultFabricHasANamespacePerNodeAndAVethPerLink() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"))
        #expect(plan.name == "default")
        #expect(plan.prefix == "trib-default-")
        #expect(plan.nodes.count == 11)
        #expect(plan.links.count == 10)
        #expect(plan.nodes.map(\.name) == ["spine0", "leaf0", "leaf1", "h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"])
        #expect(plan.nodes.filter { $0.kind == .switch_ }.count == 3)
        #expect(plan.node("h0")?.namespace == "trib-default-h0")
        #expect(plan.managementNamespace == "trib-default-mgmt")
        #expect(plan.namespaces.count == 12)
        #expect(Set(plan.namespaces).count == 12)
        #expect(plan.namespaces.allSatisfy { $0.hasPrefix(plan.prefix) })
        #expect(plan.links.enumerated().allSatisfy { $0.offset == $0.element.index })
        #expect(plan.links[0].a.node == "leaf0" && plan.links[0].b.node == "spine0")
        #expect(plan.links[0].rate == 10e9 && plan.links[0].latency == 2e-6)
    }

    @Test func interfaceNamesAreShortAndUnique() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"))
        var perNamespace: [String: [String]] = [:]
        for link in plan.links {
            for end in link.ends { perNamespace[plan.node(end.node)!.namespace, default: []].append(end.interface) }
        }
        for (i, node) in plan.nodes.enumerated() {
            perNamespace[node.namespace, default: []].append(FabricAddressing.managementInterface(node: i))
            perNamespace[plan.managementNamespace, default: []].append(FabricAddressing.managementPort(node: i))
        }
        perNamespace[plan.managementNamespace, default: []].append(FabricAddressing.managementBridge)
        let all = perNamespace.values.flatMap { $0 }
        #expect(all.allSatisfy { $0.count <= 15 && !$0.isEmpty })
        #expect(Set(all).count == all.count, "interface names are unique across the whole fabric")
        // The largest fabric the pools allow still fits the kernel's 15 characters.
        #expect(FabricAddressing.linkInterface(link: FabricAddressing.maxLinks - 1, end: 1).count <= 15)
        #expect(FabricAddressing.managementPort(node: FabricAddressing.maxNodes - 1).count <= 15)
    }

    @Test func addressesAreUniqueAndInTheirPools() throws {
        let plan = try FabricPlan(topology: loadConfig("multi-site.yaml"))
        let data = plan.nodes.map(\.dataAddress)
        let management = plan.nodes.map(\.managementAddress) + [plan.managementAddress]
        let links = plan.links.flatMap { $0.ends.map(\.host) }
        let all = data + management + links
        #expect(Set(all).count == all.count)
        #expect(data.allSatisfy { $0.hasPrefix("10.76.") })
        #expect(links.allSatisfy { $0.hasPrefix("10.77.") })
        #expect(management.allSatisfy { $0.hasPrefix("10.78.") })
        #expect(plan.links.flatMap { $0.ends.map(\.address) }.allSatisfy { $0.hasSuffix("/30") })
        // Both ends of a link share its /30.
        for link in plan.links {
            let a = link.a.host.split(separator: ".").map { Int($0)! }
            let b = link.b.host.split(separator: ".").map { Int($0)! }
            #expect(a[0..<3] == b[0..<3] && a[3] / 4 == b[3] / 4 && a[3] % 4 == 1 && b[3] % 4 == 2)
        }
    }

    @Test(arguments: ["default.yaml", "multi-site.yaml"])
    func everyNodeRoutesToEveryOtherNode(config: String) throws {
        let plan = try FabricPlan(topology: loadConfig(config))
        for node in plan.nodes {
            let routes = plan.routes[node.name] ?? []
            let destinations = Set(routes.map(\.destination))
            #expect(routes.count == plan.nodes.count - 1, "\(node.name)")
            for other in plan.nodes where other.name != node.name {
                #expect(destinations.contains(other.dataAddress + "/32"), "\(node.name) → \(other.name)")
            }
            // Every next hop is the far end of the link the route leaves on.
            for route in routes {
                let link = try #require(plan.links.first { $0.ends.contains { $0.node == node.name && $0.interface == route.interface } })
                let far = link.a.node == node.name ? link.b : link.a
                #expect(route.via == far.host)
            }
        }
        // And following the routes arrives, without a host ever forwarding.
        for from in plan.nodes {
            for to in plan.nodes where to.name != from.name {
                let hops = try #require(routedNodes(plan, from: from.name, to: to.name), "\(from.name) → \(to.name)")
                #expect(hops.dropFirst().dropLast().allSatisfy { plan.node($0)?.kind == .switch_ })
            }
        }
    }

    @Test func defaultPathsGoThroughTheSpine() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"))
        #expect(routedNodes(plan, from: "h0", to: "h7") == ["h0", "leaf0", "spine0", "leaf1", "h7"])
        #expect(routedNodes(plan, from: "h0", to: "h1") == ["h0", "leaf0", "h1"])
        let path = try #require(plan.path(from: "h0", to: "h7"))
        #expect(path.hops == 4)
        #expect(abs(path.latency - 8e-6) < 1e-12)
        #expect(path.rate == 10e9)
        #expect(path.jitter == 0)
        let same = try #require(plan.path(from: "h3", to: "h3"))
        #expect(same.hops == 0 && same.latency == 0)
        #expect(plan.path(from: "h0", to: "nope") == nil)
    }

    @Test func multiSitePathIncludesTheLongHaul() throws {
        let plan = try FabricPlan(topology: loadConfig("multi-site.yaml"))
        #expect(plan.name == "multi_site")
        #expect(plan.prefix == "trib-multi_site-")
        #expect(plan.node("dc1-h0")?.namespace == "trib-multi_site-dc1-h0")
        #expect(routedNodes(plan, from: "dc1-h0", to: "dc2-h0")
            == ["dc1-h0", "dc1-leaf0", "dc1-spine0", "dc2-spine0", "dc2-leaf0", "dc2-h0"])
        let path = try #require(plan.path(from: "dc1-h0", to: "dc2-h0"))
        #expect(path.hops == 5)
        #expect(abs(path.latency - (0.010 + 4 * 2e-6)) < 1e-12)
        #expect(abs(path.jitter - 0.001) < 1e-12)
        #expect(path.rate == 1e9)
        let back = try #require(plan.path(from: "dc2-h0", to: "dc1-h0"))
        #expect(back.hops == 5 && abs(back.latency - path.latency) < 1e-12)
        let local = try #require(plan.path(from: "dc1-h0", to: "dc1-h1"))
        #expect(local.latency < 1e-4 && local.rate == 10e9)
    }

    /// Data from a rank to the tree root takes the routed path, which must pass through the rank's
    /// aggregation switches in order: the fabric's routes and the tree builder agree.
    @Test(arguments: ["default.yaml", "multi-site.yaml"])
    func routedPathsFollowTheAggregationTree(config: String) throws {
        let topology = try loadConfig(config)
        let plan = try FabricPlan(topology: topology)
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        for (rank, host) in topology.hostNames.enumerated() {
            var ancestors: [String] = []
            var current = tree.leaf(ofRank: rank)
            while let name = current {
                ancestors.append(name)
                current = tree.nodes[name]?.parent
            }
            #expect(ancestors.last == tree.root)
            let hops = try #require(routedNodes(plan, from: host, to: tree.root))
            #expect(hops.filter { ancestors.contains($0) } == ancestors, "rank \(rank) on \(host): \(hops)")
        }
    }

    @Test func namesAreSanitisedAndNeverCollide() throws {
        let topology = Topology(
            name: "my fabric/v2",
            switches: [.init(name: "mgmt", tier: "leaf", aggregation: .standard)],
            hosts: [.init(name: "a/b"), .init(name: "a_b"), .init(name: "x y")],
            links: [.init(a: "a/b", b: "mgmt", rate: 1e9), .init(a: "a_b", b: "mgmt", rate: 1e9),
                    .init(a: "x y", b: "mgmt", rate: 1e9)])
        let plan = try FabricPlan(topology: topology)
        #expect(plan.name == "my_fabric_v2")
        #expect(plan.prefix == "trib-my_fabric_v2-")
        #expect(plan.managementNamespace == "trib-my_fabric_v2-mgmt")
        #expect(plan.node("mgmt")?.namespace == "trib-my_fabric_v2-mgmt.1")
        #expect(plan.node("a/b")?.namespace == "trib-my_fabric_v2-a_b")
        #expect(plan.node("a_b")?.namespace == "trib-my_fabric_v2-a_b.1")
        #expect(plan.node("x y")?.namespace == "trib-my_fabric_v2-x_y")
        #expect(Set(plan.namespaces).count == plan.namespaces.count)
        #expect(plan.namespaces.allSatisfy { !$0.contains("/") && !$0.contains(" ") })

        let renamed = try FabricPlan(topology: topology, name: "ci-run-7")
        #expect(renamed.name == "ci_run_7" && renamed.prefix == "trib-ci_run_7-")
        // A fabric's prefix never matches another fabric's namespaces.
        #expect(!"trib-ci_run_7-h0".hasPrefix(try FabricPlan(topology: topology, name: "ci").prefix))
    }

    @Test func planRoundTripsThroughJSON() throws {
        let plan = try FabricPlan(topology: loadConfig("multi-site.yaml"))
        let decoded = try JSONDecoder().decode(FabricPlan.self, from: JSONEncoder().encode(plan))
        #expect(decoded == plan)
    }

    @Test func invalidTopologiesAreRefused() throws {
        let topology = Topology(name: "bad", switches: [.init(name: "s", tier: "leaf", aggregation: .standard)],
                                hosts: [.init(name: "h")], links: [.init(a: "h", b: "nowhere", rate: 1e9)])
        #expect(throws: TopologyError.self) { try FabricPlan(topology: topology) }
    }

    @Test func execRunsInTheNodesNamespace() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"))
        let controller = FabricController(plan: plan)
        let worker = controller.exec(in: "h3", ["worker", "--rank", "3"])
        #expect(worker.first?.hasPrefix("/") == true && worker.first?.hasSuffix("/ip") == true)
        #expect(Array(worker.dropFirst()) == ["netns", "exec", "trib-default-h3", "worker", "--rank", "3"])
        #expect(Array(controller.exec(in: plan.managementNamespace, ["coordinator"]).dropFirst())
            == ["netns", "exec", "trib-default-mgmt", "coordinator"])
    }

    @Test func downRefusesPrefixesThatAreNotAFabrics() {
        for prefix in ["", "trib-", "trib", "x-", "trib-default"] {
            #expect(throws: FabricError.unsafePrefix(prefix)) { try FabricController.down(prefix: prefix) }
        }
    }

    @Test func commandFailuresNameTheCommandAndTheBatchLine() {
        let error = FabricError.commandFailed(
            command: ["ip", "-n", "trib-x-h0", "-batch", "-"], status: 1,
            stderr: "Error: Nexthop has invalid gateway.\nCommand failed /tmp/x.batch:2\n",
            input: ["link set lo up", "route add 10.76.0.2/32 via 10.9.9.9 dev e0a"])
        let text = error.description
        #expect(text.contains("ip -n trib-x-h0 -batch -"))
        #expect(text.contains("status 1"))
        #expect(text.contains("Nexthop has invalid gateway"))
        #expect(text.contains("batch line 2: `route add 10.76.0.2/32 via 10.9.9.9 dev e0a`"))
    }
}
