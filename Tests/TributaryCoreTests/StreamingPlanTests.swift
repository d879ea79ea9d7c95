import Testing
@testable import TributaryCore

/// The chunk and window a job streams with, from its tree, its grant and its paths.
@Suite struct StreamingPlanTests {
    static func tree() throws -> (AggregationTree, Topology) {
        let topology = try Topology.parse(yaml: """
            name: plan
            defaults:
              link: { rate: 10Gbit, latency: 2us }
              aggregation: { slots: 64, slot_bytes: 64KiB, max_jobs: 4, max_trees: 4 }
            switches:
              - { name: spine0, tier: spine }
              - { name: leaf0, tier: leaf }
              - { name: leaf1, tier: leaf, aggregation: { slot_bytes: 32KiB } }
            hosts: [h0, h1, h2, h3]
            links:
              - { a: leaf0, b: spine0 }
              - { a: leaf1, b: spine0 }
              - { a: h0, b: leaf0 }
              - { a: h1, b: leaf0 }
              - { a: h2, b: leaf1 }
              - { a: h3, b: leaf1 }
            """, source: "plan.yaml")
        return (try TreeBuilder(topology: topology).build(hosts: ["h0", "h1", "h2", "h3"]), topology)
    }

    @Test func chunksFitTheSmallestSlotAndWindowsTheSmallestGrant() throws {
        let (tree, topology) = try Self.tree()
        let plan = StreamingPlan(tree: tree, topology: topology, grant: ["spine0": 16, "leaf0": 16, "leaf1": 12],
                                 chunkBytes: 256 << 10, window: 32, pathToRoot: nil)
        #expect(plan.parameters.chunkBytes == 32 << 10)
        #expect(plan.parameters.window == 12)
        #expect(plan.windowReason == "fixed, capped by 12 slots")
        #expect(plan.path == "in-network: tree spine0 over 3 switches, 2 levels, window 12")
    }

    /// The low-latency threshold is the setting, capped at the chunk the operation must fit in
    /// (here the 32 KiB slot); at or below it an operation is low-latency, above it streaming.
    @Test func theLowLatencyThresholdIsCappedAtTheChunk() throws {
        let (tree, topology) = try Self.tree()
        let grant = ["spine0": 16, "leaf0": 16, "leaf1": 16]
        let small = StreamingPlan(tree: tree, topology: topology, grant: grant, chunkBytes: 256 << 10, window: 4,
                                  lowLatencyBytes: 4096, pathToRoot: nil).parameters
        #expect(small.lowLatencyBytes == 4096)
        #expect(small.reductionProtocol(count: 1024, dtype: .f32) == .lowLatency)
        #expect(small.reductionProtocol(count: 1025, dtype: .f32) == .streaming)
        #expect(small.reductionProtocol(count: 512, dtype: .f64) == .lowLatency)
        #expect(small.reductionProtocol(count: 513, dtype: .f64) == .streaming)
        #expect(small.reductionProtocol(count: 4096, dtype: .u8) == .lowLatency)
        #expect(small.reductionProtocol(count: 0, dtype: .f16) == .lowLatency)
        #expect(small.reductionProtocol(count: .max, dtype: .f64) == .streaming)
        let capped = StreamingPlan(tree: tree, topology: topology, grant: grant, chunkBytes: 256 << 10, window: 4,
                                   lowLatencyBytes: 1 << 20, pathToRoot: nil).parameters
        #expect(capped.lowLatencyBytes == 32 << 10)
        let off = StreamingParameters(chunkBytes: 1024, window: 1, lowLatencyBytes: 0)
        #expect(off.reductionProtocol(count: 1, dtype: .u8) == .streaming)
        #expect(off.reductionProtocol(count: 0, dtype: .u8) == .lowLatency)
        #expect(StreamingParameters(chunkBytes: 1024, window: 1, lowLatencyBytes: -5).lowLatencyBytes == 0)
    }

    @Test func aWindowWithinTheGrantIsKept() throws {
        let (tree, topology) = try Self.tree()
        let plan = StreamingPlan(tree: tree, topology: topology, grant: ["spine0": 16, "leaf0": 16, "leaf1": 16],
                                 chunkBytes: 4096, window: 4, pathToRoot: nil)
        #expect(plan.parameters == StreamingParameters(chunkBytes: 4096, window: 4))
        #expect(plan.windowReason == "fixed")
    }

    /// 1 Gbit/s and 10 ms one way: BDP = 125 MB/s × 20 ms = 2.5 MB; 1.5 × BDP / 32 KiB + 1 = 116.
    @Test func longPathsGetWindowsFromTheirBandwidthDelayProduct() throws {
        let (tree, topology) = try Self.tree()
        let plan = StreamingPlan(tree: tree, topology: topology, grant: ["spine0": 200, "leaf0": 200, "leaf1": 200],
                                 chunkBytes: 32 << 10, window: 4) { host in
            host == "h3" ? (latency: 0.010, rate: 1e9) : (latency: 1e-6, rate: 1e10)
        }
        #expect(plan.parameters.window == 116)
        #expect(plan.windowReason == "distance-aware: longest-path BDP 2500000 B")
        let capped = StreamingPlan(tree: tree, topology: topology, grant: ["spine0": 64, "leaf0": 64, "leaf1": 64],
                                   chunkBytes: 32 << 10, window: 4) { _ in (latency: 0.010, rate: 1e9) }
        #expect(capped.parameters.window == 64)
        #expect(capped.windowReason.hasSuffix(", capped by 64 slots"))
    }
}
