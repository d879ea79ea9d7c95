import Testing
@testable import TributaryCore

/// Values that parse but make no sense are refused with the field, the value and the line; fabrics
/// past the planning limits are refused from their parameters, before anything is allocated.
@Suite struct TopologyLimitsTests {
    static let options = Topology.GeneratorOptions(aggregation: ["edge": .standard, "leaf": .standard,
                                                                 "router": .standard],
                                                   hostLink: .init(rate: 1e9), fabricLink: .init(rate: 1e9))

    /// One switch whose aggregation mapping is `resources`, on line 4 (after `topologyHeader`).
    func aggregationError(_ resources: String) throws -> TopologyError {
        try #require(topologyParseError(topologyHeader + """
            switches: [ { name: s0, aggregation: { \(resources) } } ]
            hosts: [h0]
            links: [ { a: h0, b: s0 } ]
            """))
    }

    @Test func aggregationResourcesAreChecked() throws {
        let cases = [
            ("slot_bytes: 1", "`slot_bytes` is 1 B"),
            ("slot_bytes: 100", "`slot_bytes` is 100 B"),
            ("slot_bytes: 128MiB", "`slot_bytes` is 128 MiB"),
            ("slots: 65537", "`slots` is 65537"),
            ("max_jobs: 5000", "`max_jobs` is 5000"),
            ("max_trees: 4097", "`max_trees` is 4097"),
        ]
        for (field, message) in cases {
            let error = try aggregationError(field)
            #expect(error.kind == .invalidValue, "\(field)")
            #expect(error.line == 4, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
        #expect(try aggregationError("slot_bytes: 1").message.contains("64 B to 64 MiB"))
        #expect(try aggregationError("slots: 65537").message.contains("between 1 and 65,536"))
        // The edges are allowed.
        let edges = try Topology.parse(yaml: topologyHeader + """
            switches:
              - { name: s0, aggregation: { slot_bytes: 64, slots: 65536, max_jobs: 4096, max_trees: 4096 } }
              - { name: s1, aggregation: { slot_bytes: 64MiB } }
            hosts: [h0]
            links: [ { a: h0, b: s0 }, { a: s1, b: s0 } ]
            """, source: "edges.yaml")
        #expect(edges.switch(named: "s1")?.aggregation?.slotBytes == AggregationResources.maxSlotBytes)
        // In `defaults`, the error points at the field there.
        let inDefaults = try #require(topologyParseError("""
            defaults:
              link: { rate: 10Gbit }
              aggregation: { slots: 8, slot_bytes: 1 }
            switches: [ { name: s0, aggregation: true } ]
            """))
        #expect(inDefaults.line == 3)
        #expect(inDefaults.message.contains("`slot_bytes` is 1 B"))
        // Built in code, the validator names the switch.
        var topology = try Topology.leafSpine(spines: 1, leaves: 1, hostsPerLeaf: 1, options: Self.options)
        topology.switches[1].aggregation?.slotBytes = 1
        do {
            try topology.validate()
            Issue.record("a 1-byte slot passed")
        } catch let error as TopologyError {
            #expect(error.message.hasPrefix("switch `leaf0`: `slot_bytes` is 1 B"), "\(error)")
        }
    }

    @Test func linkParametersAreChecked() throws {
        let cases = [
            ("rate: 100", "`rate` is 100bit", "bits/s"),
            ("rate: 2Tbit", "`rate` is 2Tbit", "1kbit to 1.6Tbit"),
            ("latency: 30", "`latency` is 30s", "30ms"),
            ("jitter: 11s", "`jitter` is 11s", "between 0 and 10s"),
            ("loss: 100%", "`loss` is 1.0", "typo"),
            ("loss: 1", "`loss` is 1.0", "drops every packet"),
        ]
        for (field, message, hint) in cases {
            let rate = field.hasPrefix("rate") ? "" : "rate: 1Gbit, "
            let error = try #require(topologyParseError("""
                switches: [ { name: s0, aggregation: true } ]
                hosts: [h0]
                links:
                  - { a: h0, b: s0, \(rate)\(field) }
                """))
            #expect(error.kind == .invalidValue, "\(field)")
            #expect(error.line == 4, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.message.contains(hint), "\(error)")
        }
        let edges = try Topology.parse(yaml: """
            switches: [ { name: s0, aggregation: true } ]
            hosts: [h0, h1]
            links:
              - { a: h0, b: s0, rate: 1kbit, latency: 10s, jitter: 10s, loss: 99.9% }
              - { a: h1, b: s0, rate: 1.6Tbit }
            """, source: "edges.yaml")
        #expect(edges.links.map(\.rate) == [1e3, 1.6e12])
        let inDefaults = try #require(topologyParseError("""
            defaults:
              link: { rate: 10Gbit, latency: 20 }
            """))
        #expect(inDefaults.line == 2)
        #expect(inDefaults.message.contains("`latency` is 20s"))
        var topology = try Topology.leafSpine(spines: 1, leaves: 1, hostsPerLeaf: 1, options: Self.options)
        topology.links[1].loss = 1
        do {
            try topology.validate()
            Issue.record("a link with loss 1 passed")
        } catch let error as TopologyError {
            #expect(error.message.hasPrefix("link h0–leaf0: `loss` is 1.0"), "\(error)")
        }
    }

    /// fat-tree k=1000 would be 250 million hosts: refused from k alone, at once.
    @Test func hugeGeneratorsFailBeforeAllocating() throws {
        do {
            _ = try Topology.fatTree(k: 1000, options: Self.options)
            Issue.record("fat-tree k=1000 was built")
        } catch let error as TopologyError {
            #expect(error.kind == .invalidValue)
            #expect(error.message.hasPrefix("fat-tree k=1000 has 250,000,000 hosts; the limit is 1,048,576"))
            #expect(error.message.contains("planning tool"))
        }
        let inFile = try #require(topologyParseError(topologyHeader + """
            generate:
              kind: fat-tree
              k: 1000
            """))
        #expect(inFile.line == 5)
        #expect(inFile.message.contains("fat-tree k=1000 has 250,000,000 hosts"))
        // Products that overflow an Int saturate rather than trap.
        let enormous = try #require(topologyParseError(topologyHeader + """
            generate: { kind: fat-tree, k: 9000000000000000000 }
            """))
        #expect(enormous.message.contains("has over 9,223,372,036,854,775,806 hosts"), "\(enormous)")
        // Links and switches are bounded too, and the message names the parameters.
        let meshed = try #require(topologyParseError(topologyHeader + """
            generate: { kind: leaf-spine, spines: 1000, leaves: 10000, hosts_per_leaf: 1 }
            """))
        #expect(meshed.message.hasPrefix("leaf-spine spines=1000, leaves=10000, hosts_per_leaf=1 has 10,010,000 links"))
        let routers = try #require(topologyParseError(topologyHeader + """
            generate: { kind: dragonfly, groups: 2000000, routers_per_group: 1, hosts_per_router: 1,
                        global_links_per_router: 1 }
            """))
        #expect(routers.message.contains("dragonfly groups=2000000, routers_per_group=1, hosts_per_router=1 has"))
        #expect(routers.message.contains("2,000,000 hosts"), "\(routers)")
        #expect(throws: TopologyError.self) {
            try Topology.dragonfly(groups: 2, routersPerGroup: 1 << 40, hostsPerRouter: 1,
                                   globalLinksPerRouter: 1 << 40, globalLink: .init(rate: 1e9), options: Self.options)
        }
    }

    /// Hosts listed (or built in code) past the limit are refused too.
    @Test func topologiesPastTheLimitAreRefused() throws {
        let crowd = Topology(name: "crowd", switches: [],
                             hosts: Array(repeating: .init(name: "h"), count: Topology.maxEndpoints + 1), links: [])
        do {
            try crowd.validate()
            Issue.record("\(Topology.maxEndpoints + 1) hosts passed")
        } catch let error as TopologyError {
            #expect(error.message.hasPrefix("the topology has 1,048,577 hosts; the limit is 1,048,576"), "\(error)")
        }
        #expect(TopologyValidator.grouped(0) == "0")
        #expect(TopologyValidator.grouped(999) == "999")
        #expect(TopologyValidator.grouped(1000) == "1,000")
        #expect(TopologyValidator.grouped(4_194_304) == "4,194,304")
    }

    /// Aliases cost Yams the whole anchored node at every use, and anchored nodes may hold aliases: a
    /// few hundred bytes of nested aliases used as a mapping key (which Yams hashes whole) hung the
    /// parser, and as `<<` merges (which it copies whole) exhausted memory — found fuzzing, kept in
    /// Fuzz/regressions/topology. They are refused at the alias that passes the budget, before Yams
    /// builds anything, while ordinary anchors still work.
    @Test(.timeLimit(.minutes(1))) func aliasBombsAreRefused() throws {
        var keyBomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1..<10 {
            keyBomb.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]")
        }
        keyBomb.append("? *a9\n: boom")
        let key = try #require(topologyParseError(keyBomb.joined(separator: "\n")))
        #expect(key.kind == .invalidValue, "\(key)")
        #expect(key.line == 6, "\(key)")
        #expect(key.message.hasPrefix("with this alias, the file's aliases stand for over 1,000,000 nodes"), "\(key)")

        var mergeBomb = ["x0: &m0 {k: v}"]
        for i in 1..<40 { mergeBomb.append("x\(i): &m\(i) {<<: [*m\(i - 1), *m\(i - 1)]}") }
        mergeBomb.append("<<: *m39")
        let merge = try #require(topologyParseError(mergeBomb.joined(separator: "\n")))
        #expect(merge.kind == .invalidValue && merge.line == 18, "\(merge)")

        let anchored = try Topology.parse(yaml: topologyHeader + """
            switches: [ { name: s0, aggregation: true } ]
            hosts: [h0, h1]
            links: [ { a: h0, b: s0, <<: &fast { rate: 25Gbit, latency: 1us } }, { a: h1, b: s0, <<: *fast } ]
            """, source: "anchors.yaml")
        #expect(anchored.links.map(\.rate) == [25e9, 25e9])
    }
}
