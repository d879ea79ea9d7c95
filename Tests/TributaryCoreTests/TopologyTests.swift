import Foundation
import Testing
@testable import TributaryCore

/// `Configs/` at the repository root, found from this file's path so tests run from any directory.
let topologyConfigsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Configs")

func loadTopologyConfig(_ name: String) throws -> Topology {
    try Topology.load(path: topologyConfigsDirectory.appendingPathComponent(name).path)
}

/// Parses `yaml` expecting a `TopologyError`, and returns it.
func topologyParseError(_ yaml: String, source: String = "test.yaml") -> TopologyError? {
    do {
        _ = try Topology.parse(yaml: yaml, source: source)
        return nil
    } catch let error as TopologyError {
        return error
    } catch {
        Issue.record("expected a TopologyError, got \(type(of: error)): \(error)")
        return nil
    }
}

/// A minimal valid topologyHeader: a link rate default and aggregation everywhere.
let topologyHeader = """
    defaults:
      link: { rate: 10Gbit }
      aggregation: { slots: 8 }

    """

@Suite struct TopologyTests {
    // MARK: - Configs

    @Test func everyConfigParses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: topologyConfigsDirectory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        #expect(files.count >= 4)
        for file in files {
            let topology = try loadTopologyConfig(file)
            #expect(!topology.hosts.isEmpty, "\(file)")
            #expect(!topology.aggregatingSwitches.isEmpty, "\(file)")
            // Every config yields a tree for all its hosts.
            let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
            #expect(tree.worldSize == topology.hosts.count, "\(file)")
        }
    }

    @Test func defaultConfig() throws {
        let t = try loadTopologyConfig("default.yaml")
        #expect(t.name == "default")
        #expect(t.switches.map(\.name) == ["spine0", "leaf0", "leaf1"])
        #expect(t.hostNames == (0..<8).map { "h\($0)" })
        #expect(t.links.count == 10)
        for link in t.links {
            #expect(link.rate == 10e9)
            #expect(link.latency == 2e-6)
            #expect(link.jitter == 0)
            #expect(link.loss == 0)
        }
        let resources = AggregationResources(slots: 64, slotBytes: 256 * 1024, maxJobs: 4, maxTrees: 4)
        #expect(t.switches.allSatisfy { $0.aggregation == resources })
    }

    @Test func fatTreeConfig() throws {
        let t = try loadTopologyConfig("fat-tree.yaml")
        #expect(t.switches.filter { $0.tier == "core" }.count == 16)
        #expect(t.switches.filter { $0.tier == "agg" }.count == 32)
        #expect(t.switches.filter { $0.tier == "edge" }.count == 32)
        #expect(t.hosts.count == 128)
        #expect(t.switches.first?.name == "core0")
        #expect(t.switch(named: "agg-p7-3") != nil)
        #expect(t.switch(named: "edge-p0-0") != nil)
        #expect(t.aggregatingSwitches.count == 80)
        let hostLink = try #require(t.links.first { $0.a == "h0" })
        #expect(hostLink.b == "edge-p0-0")
        #expect(hostLink.rate == 100e9)
        #expect(hostLink.latency == 1e-6)
        let fabric = try #require(t.links.first { $0.a.hasPrefix("agg") })
        #expect(fabric.rate == 200e9)
        #expect(fabric.latency == 1.5e-6)
        // Links: agg–core k·(k/2)², edge–agg k·(k/2)², host–edge k³/4.
        #expect(t.links.count == 128 + 128 + 128)
    }

    @Test func leafSpineLargeConfig() throws {
        let t = try loadTopologyConfig("leaf-spine-large.yaml")
        #expect(t.switches.map(\.name) == ["spine0", "spine1"] + (0..<8).map { "leaf\($0)" })
        #expect(t.hosts.count == 64)
        #expect(t.links.count == 2 * 8 + 64)
        #expect(t.switch(named: "spine1")?.aggregation
            == AggregationResources(slots: 256, slotBytes: 1 << 20, maxJobs: 16, maxTrees: 16))
        #expect(t.switch(named: "leaf3")?.aggregation
            == AggregationResources(slots: 64, slotBytes: 256 * 1024, maxJobs: 4, maxTrees: 4))
        #expect(t.links.first { $0.a == "h9" }?.b == "leaf1")
        #expect(t.links.first { $0.a == "h9" }?.rate == 25e9)
    }

    @Test func multiSiteConfig() throws {
        let t = try loadTopologyConfig("multi-site.yaml")
        #expect(t.switches.count == 6)
        #expect(t.hostNames == (0..<4).map { "dc1-h\($0)" } + (0..<4).map { "dc2-h\($0)" })
        #expect(t.switches.filter { $0.site == "dc2" }.map(\.name) == ["dc2-spine0", "dc2-leaf0", "dc2-leaf1"])
        #expect(t.hosts.allSatisfy { $0.site == ($0.name.hasPrefix("dc1") ? "dc1" : "dc2") })
        let wan = try #require(t.links.first { $0.a == "dc1-spine0" && $0.b == "dc2-spine0" })
        #expect(wan.latency == 0.010)
        #expect(wan.jitter == 0.001)
        #expect(wan.rate == 1e9)
    }

    // MARK: - Units

    @Test func rates() {
        #expect(TopologyUnits.rate("100Gbit") == 100e9)
        #expect(TopologyUnits.rate("25Gbps") == 25e9)
        #expect(TopologyUnits.rate("800Mbit") == 800e6)
        #expect(TopologyUnits.rate("1.5Gbit") == 1.5e9)
        #expect(TopologyUnits.rate("10Gbit/s") == 10e9)
        #expect(TopologyUnits.rate("64kbit") == 64e3)
        #expect(TopologyUnits.rate("1Tbit") == 1e12)
        #expect(TopologyUnits.rate("2Gibit") == 2_147_483_648.0)
        #expect(TopologyUnits.rate("1000") == 1000)
        #expect(TopologyUnits.rate("0.1Gbit") == 1e8)
        #expect(TopologyUnits.rate("2.5e3Mbit") == 2.5e9)
        #expect(TopologyUnits.rate(" 10 Gbit ") == 10e9)
        for bad in ["10Gbitz", "10GB", "Gbit", "", "-1Gbit", "0Gbit", "10Xbit", "1e400bit", "inf", "nan", "0x10"] {
            #expect(TopologyUnits.rate(bad) == nil, "\(bad)")
        }
    }

    @Test func durations() {
        #expect(TopologyUnits.duration("2us") == 2e-6)
        #expect(TopologyUnits.duration("2µs") == 2e-6)
        #expect(TopologyUnits.duration("1.5ms") == 1.5e-3)
        #expect(TopologyUnits.duration("30ms") == 30e-3)
        #expect(TopologyUnits.duration("100ns") == 100e-9)
        #expect(TopologyUnits.duration("1s") == 1)
        #expect(TopologyUnits.duration("0") == 0)
        #expect(TopologyUnits.duration("0.25") == 0.25)
        #expect(TopologyUnits.duration("1e-3") == 0.001)
        #expect(TopologyUnits.duration("0.3us") == 3e-7)
        for bad in ["2 parsecs", "ms", "-1ms", "1m", "1h", "1.2.3ms"] {
            #expect(TopologyUnits.duration(bad) == nil, "\(bad)")
        }
    }

    @Test func sizes() {
        #expect(TopologyUnits.size("256KiB") == 262_144)
        #expect(TopologyUnits.size("16MiB") == 16 << 20)
        #expect(TopologyUnits.size("1GiB") == 1 << 30)
        #expect(TopologyUnits.size("4KB") == 4000)
        #expect(TopologyUnits.size("512B") == 512)
        #expect(TopologyUnits.size("4096") == 4096)
        #expect(TopologyUnits.size("1.5KiB") == 1536)
        for bad in ["0", "1.3B", "12Kb", "KiB", "-4KiB", "3 apples"] {
            #expect(TopologyUnits.size(bad) == nil, "\(bad)")
        }
        #expect(TopologyUnits.formatSize(262_144) == "256 KiB")
        #expect(TopologyUnits.formatSize(1000) == "1000 B")
    }

    @Test func losses() {
        #expect(TopologyUnits.loss("0.1%") == 0.001)
        #expect(TopologyUnits.loss("0.001") == 0.001)
        #expect(TopologyUnits.loss("0") == 0)
        #expect(TopologyUnits.loss("100%") == 1)
        for bad in ["2", "101%", "-0.1", "0.1%%", "a%"] {
            #expect(TopologyUnits.loss(bad) == nil, "\(bad)")
        }
    }

    @Test func formatting() {
        #expect(TopologyUnits.formatRate(10e9) == "10Gbit")
        #expect(TopologyUnits.formatRate(1.5e9) == "1.5Gbit")
        #expect(TopologyUnits.formatRate(800e6) == "800Mbit")
        #expect(TopologyUnits.formatDuration(2e-6) == "2us")
        #expect(TopologyUnits.formatDuration(0.010) == "10ms")
    }

    // MARK: - Errors, one per class, with file:line

    @Test func badRateNamesFileAndLine() throws {
        let yaml = """
            switches: [ { name: s0, aggregation: true } ]
            hosts: [h0]
            links:
              - a: h0
                b: s0
                rate: 10Gbitz
            """
        let error = try #require(topologyParseError(yaml, source: "Configs/bad.yaml"))
        #expect(error.kind == .badUnit)
        #expect(error.line == 6)
        #expect(error.source == "Configs/bad.yaml")
        #expect(error.description.hasPrefix("Configs/bad.yaml:6: `10Gbitz` is not a rate"))
    }

    @Test func badUnitsOfEveryKind() throws {
        let cases: [(String, String)] = [
            ("latency: 2 parsecs", "is not a time"),
            ("jitter: fast", "is not a time"),
            ("loss: 5%%", "is not a loss fraction"),
            ("rate: 10GB", "is not a rate"),
        ]
        for (field, message) in cases {
            let rate = field.hasPrefix("rate") ? "" : "rate: 1Gbit, "
            let yaml = """
                switches: [ { name: s0, aggregation: true } ]
                hosts: [h0]
                links:
                  - { a: h0, b: s0, \(rate)\(field) }
                """
            let error = try #require(topologyParseError(yaml))
            #expect(error.kind == .badUnit, "\(field)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.line == 4, "\(error)")
        }
        let size = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0, aggregation: { slot_bytes: 256KiBB } } ]
            hosts: [h0]
            links: [ { a: h0, b: s0 } ]
            """))
        #expect(size.kind == .badUnit)
        #expect(size.line == 4)
        #expect(size.message.contains("`256KiBB` is not a size"))
    }

    @Test func yamlSyntaxErrorHasLine() throws {
        let error = try #require(topologyParseError("""
            hosts: [h0]
            switches:
              - { name: s0
            links: []
            """))
        #expect(error.kind == .syntax)
        #expect(error.line != nil)
        #expect(error.description.hasPrefix("test.yaml:"))
    }

    @Test func duplicateYamlKey() throws {
        let error = try #require(topologyParseError(topologyHeader + """
            hosts: [h0]
            hosts: [h1]
            """))
        #expect(error.kind == .duplicate)
        #expect(error.message.contains("`hosts`"))
    }

    @Test func unknownKeyIsRefusedWithLine() throws {
        let error = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts: [h0]
            links:
              - { a: h0, b: s0, latncy: 2us }
            """))
        #expect(error.kind == .unknownKey)
        #expect(error.line == 7)
        #expect(error.message.contains("`latncy`"))
    }

    @Test func wrongShapeIsASchemaError() throws {
        let notAList = try #require(topologyParseError(topologyHeader + """
            switches: { name: s0 }
            """))
        #expect(notAList.kind == .schema)
        #expect(notAList.line == 4)
        let missingName = try #require(topologyParseError(topologyHeader + """
            switches:
              - { tier: leaf }
            """))
        #expect(missingName.kind == .schema)
        #expect(missingName.line == 5)
        #expect(missingName.message.contains("needs `name`"))
        let notAMapping = try #require(topologyParseError("- just\n- a list\n"))
        #expect(notAMapping.kind == .schema)
        let empty = try #require(topologyParseError(""))
        #expect(empty.kind == .schema)
    }

    @Test func missingRateWithoutDefault() throws {
        let error = try #require(topologyParseError("""
            switches: [ { name: s0, aggregation: true } ]
            hosts: [h0]
            links:
              - { a: h0, b: s0 }
            """))
        #expect(error.kind == .schema)
        #expect(error.line == 4)
        #expect(error.message.contains("no `rate`"))
    }

    @Test func duplicateNames() throws {
        let error = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts:
              - h0
              - s0
            links: [ { a: h0, b: s0 } ]
            """))
        #expect(error.kind == .duplicate)
        #expect(error.line == 7)
        #expect(error.message.contains("duplicate name `s0`"))
        #expect(error.message.contains("first defined at line 4"))
        let link = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts: [h0]
            links: [ { a: h0, b: s0 }, { a: s0, b: h0 } ]
            """))
        #expect(link.kind == .duplicate)
    }

    @Test func linkToUnknownNode() throws {
        let error = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts: [h0]
            links:
              - { a: h0, b: s0 }
              - { a: s0, b: leaf9 }
            """))
        #expect(error.kind == .unknownNode)
        #expect(error.line == 8)
        #expect(error.message.contains("`leaf9`"))
    }

    @Test func hostsMustBeConnected() throws {
        let lonely = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts: [h0, h1]
            links: [ { a: h0, b: s0 } ]
            """))
        #expect(lonely.kind == .notConnected)
        #expect(lonely.message.contains("`h1`"))
        let hostToHost = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0 } ]
            hosts: [h0, h1]
            links: [ { a: h0, b: s0 }, { a: h0, b: h1 } ]
            """))
        #expect(hostToHost.kind == .notConnected)
    }

    @Test func noAggregatingSwitch() throws {
        let error = try #require(topologyParseError("""
            defaults: { link: { rate: 1Gbit } }
            switches: [ { name: s0 } ]
            hosts: [h0]
            links: [ { a: h0, b: s0 } ]
            """))
        #expect(error.kind == .noAggregatingSwitch)
        let off = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0, aggregation: none } ]
            hosts: [h0]
            links: [ { a: h0, b: s0 } ]
            """))
        #expect(off.kind == .noAggregatingSwitch)
    }

    @Test func invalidValues() throws {
        let oddK = try #require(topologyParseError(topologyHeader + """
            generate:
              kind: fat-tree
              k: 5
            """))
        #expect(oddK.kind == .invalidValue)
        #expect(oddK.line == 5)
        let zeroSlots = try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0, aggregation: { slots: 0 } } ]
            """))
        #expect(zeroSlots.kind == .invalidValue)
        #expect(zeroSlots.line == 4)
        let kind = try #require(topologyParseError(topologyHeader + """
            generate: { kind: torus }
            """))
        #expect(kind.kind == .invalidValue)
        let tier = try #require(topologyParseError(topologyHeader + """
            generate: { kind: leaf-spine, spines: 1, leaves: 1, hosts_per_leaf: 1, aggregate: [core] }
            """))
        #expect(tier.kind == .invalidValue)
        #expect(tier.message.contains("`core` is not a tier"))
        let wrongKey = try #require(topologyParseError(topologyHeader + """
            generate: { kind: leaf-spine, k: 4 }
            """))
        #expect(wrongKey.kind == .unknownKey)
    }

    @Test func unreadableFile() throws {
        do {
            _ = try Topology.load(path: "/nonexistent/topology.yaml")
            Issue.record("expected an error")
        } catch let error as TopologyError {
            #expect(error.kind == .io)
            #expect(error.source == "/nonexistent/topology.yaml")
        }
    }

    // MARK: - Schema features

    @Test func defaultsAndOverrides() throws {
        let t = try Topology.parse(yaml: """
            defaults:
              link: { rate: 10Gbit, latency: 2us, jitter: 100ns, loss: 0.1% }
              aggregation: { slots: 32, slot_bytes: 64KiB, max_jobs: 2, max_trees: 3 }
            switches:
              - { name: spine, tier: spine, aggregation: { slots: 128 } }
              - { name: leaf, tier: leaf }
              - { name: relay, aggregation: none }
            hosts:
              - { name: h0, site: lab, nics: [mlx5_0, mlx5_1] }
              - h1
            links:
              - { a: leaf, b: spine, rate: 40Gbit }
              - { a: relay, b: spine }
              - { a: h0, b: leaf, latency: 1.5ms }
              - { a: h1, b: leaf, loss: 0.002 }
            """, source: "inline/example.yaml")
        #expect(t.name == "example")
        #expect(t.switch(named: "spine")?.aggregation
            == AggregationResources(slots: 128, slotBytes: 65536, maxJobs: 2, maxTrees: 3))
        #expect(t.switch(named: "leaf")?.aggregation
            == AggregationResources(slots: 32, slotBytes: 65536, maxJobs: 2, maxTrees: 3))
        #expect(t.switch(named: "relay")?.aggregation == nil)
        #expect(t.switch(named: "relay")?.tier == "switch")
        #expect(t.host(named: "h0") == Topology.Host(name: "h0", site: "lab", nics: ["mlx5_0", "mlx5_1"]))
        #expect(t.links[0] == Topology.Link(a: "leaf", b: "spine", rate: 40e9, latency: 2e-6, jitter: 1e-7, loss: 0.001))
        #expect(t.links[2].latency == 1.5e-3)
        #expect(t.links[3].loss == 0.002)
    }

    @Test func noDefaultsMeansForwardOnly() throws {
        let t = try Topology.parse(yaml: """
            switches:
              - { name: a, aggregation: true }
              - { name: b }
            hosts: [h0]
            links: [ { a: h0, b: b, rate: 1Gbit }, { a: a, b: b, rate: 1Gbit } ]
            """, source: "x.yaml")
        #expect(t.switch(named: "a")?.aggregation == .standard)
        #expect(t.switch(named: "b")?.aggregation == nil)
    }

    @Test func leafSpineGeneratorNamesAndOrder() throws {
        let t = try Topology.parse(yaml: topologyHeader + """
            generate: { kind: leaf-spine, spines: 2, leaves: 3, hosts_per_leaf: 2, aggregate: [leaf] }
            """, source: "g.yaml")
        #expect(t.switches.map(\.name) == ["spine0", "spine1", "leaf0", "leaf1", "leaf2"])
        #expect(t.hostNames == ["h0", "h1", "h2", "h3", "h4", "h5"])
        #expect(t.switches.filter { $0.aggregation != nil }.map(\.tier) == ["leaf", "leaf", "leaf"])
        #expect(t.links.count == 6 + 6)
        #expect(t.links.contains { $0.a == "h3" && $0.b == "leaf1" })
    }

    @Test func fatTreeGeneratorShape() throws {
        let t = try Topology.parse(yaml: topologyHeader + """
            generate: { kind: fat-tree, k: 4, hosts_per_edge: 3 }
            """, source: "g.yaml")
        #expect(t.switches.count == 4 + 8 + 8)
        #expect(t.hosts.count == 8 * 3)
        // agg-p1-1 links to cores 2 and 3 and to both edges of pod 1.
        let aggLinks = t.links.filter { $0.a == "agg-p1-1" || $0.b == "agg-p1-1" }
        #expect(Set(aggLinks.map { $0.a == "agg-p1-1" ? $0.b : $0.a })
            == ["core2", "core3", "edge-p1-0", "edge-p1-1"])
        #expect(t.links.first { $0.a == "h4" }?.b == "edge-p0-1")
    }

    @Test func dragonflyGenerator() throws {
        let t = try Topology.parse(yaml: topologyHeader + """
            generate:
              kind: dragonfly
              groups: 5
              routers_per_group: 2
              hosts_per_router: 2
              global_links_per_router: 2
              global_link: { rate: 50Gbit, latency: 300ns }
            """, source: "d.yaml")
        #expect(t.switches.count == 10)
        #expect(t.switches.first?.name == "g0-r0")
        #expect(t.hosts.count == 20)
        let global = t.links.filter { $0.rate == 50e9 }
        #expect(global.count == 5 * 4 / 2)
        let local = t.links.filter { $0.a.hasPrefix("g") && $0.rate == 10e9 }
        #expect(local.count == 5)
        // Every pair of groups is joined exactly once.
        var pairs = Set<String>()
        for link in global {
            let groups = [link.a, link.b].map { $0.split(separator: "-")[0] }.sorted()
            #expect(groups[0] != groups[1])
            pairs.insert(groups.joined(separator: "/"))
        }
        #expect(pairs.count == 10)
        let tooFew = try #require(topologyParseError(topologyHeader + """
            generate: { kind: dragonfly, groups: 9, routers_per_group: 2, hosts_per_router: 1,
                        global_links_per_router: 2 }
            """))
        #expect(tooFew.kind == .invalidValue)
    }

    @Test func generatorsCombineWithExplicitEntries() throws {
        let t = try Topology.parse(yaml: topologyHeader + """
            generate:
              - { kind: leaf-spine, prefix: a-, site: a, spines: 1, leaves: 1, hosts_per_leaf: 1 }
              - { kind: leaf-spine, prefix: b-, site: b, spines: 1, leaves: 1, hosts_per_leaf: 1 }
            switches: [ { name: wan, tier: wan, aggregation: none } ]
            hosts: [ { name: extra, site: a } ]
            links:
              - { a: wan, b: a-spine0, latency: 10ms }
              - { a: wan, b: b-spine0, latency: 10ms }
              - { a: extra, b: a-leaf0 }
            """, source: "c.yaml")
        #expect(t.hostNames == ["a-h0", "b-h0", "extra"])
        #expect(t.switches.map(\.name) == ["a-spine0", "a-leaf0", "b-spine0", "b-leaf0", "wan"])
        #expect(t.switch(named: "b-leaf0")?.site == "b")
        let clash = try #require(topologyParseError(topologyHeader + """
            generate: { kind: leaf-spine, spines: 1, leaves: 1, hosts_per_leaf: 1 }
            hosts: [h0]
            """))
        #expect(clash.kind == .duplicate)
        #expect(clash.line == 5)
    }

    @Test func yamlAnchorsAndMergeKeysWork() throws {
        let t = try Topology.parse(yaml: """
            switches: [ { name: s0, aggregation: true } ]
            hosts: [h0, h1]
            links:
              - &fast { a: h0, b: s0, rate: 100Gbit, latency: 1us }
              - { <<: *fast, a: h1 }
            """, source: "m.yaml")
        #expect(t.links[1] == Topology.Link(a: "h1", b: "s0", rate: 100e9, latency: 1e-6))
    }

    @Test func codableRoundTrip() throws {
        let t = try loadTopologyConfig("multi-site.yaml")
        let data = try JSONEncoder().encode(t)
        #expect(try JSONDecoder().decode(Topology.self, from: data) == t)
        try t.validate()
    }
}
