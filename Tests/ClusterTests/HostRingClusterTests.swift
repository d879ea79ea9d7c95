import Foundation
import Testing
import TributaryCore
import Worker

/// The host ring: the baseline in-network reduction is compared with, and the fallback when no
/// tree can serve a job. Validated against a replay in ring order, over every transport.
@Suite(.serialized) struct HostRingClusterTests {
    /// 100 000 elements ring among 8 ranks in half a minute over soft-RoCE under TCG: the RDMA run in
    /// the VM leaves it out (its parity test and launches cover large counts over RDMA).
    static let counts = [0, 1, 5, 7, 255, 256, 257, 8 * 256 + 3]
        + (TransportKind.inEmulatedGuest ? [] : [100_000])

    /// Ring-allreduces `count` generated elements for each count, one after another in one job of
    /// `ranks` ranks (a cluster boot over RDMA in the emulated guest costs seconds), each against a
    /// replay in ring order.
    func ringAllreduce(_ transport: TransportKind, ranks: Int, counts: [Int], dtype: DType, op: ReduceOp,
                       specials: Bool = false) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: ranks, transport: transport)
        let generators = counts.map { InputGenerator(seed: UInt64($0) &+ 77, specials: specials) }
        let results = try await harness.run { comm -> [([UInt8], Bool?, OperationResult)] in
            var outcomes: [([UInt8], Bool?, OperationResult)] = []
            for (count, generator) in zip(counts, generators) {
                let size = max(1, count * dtype.size)
                let send = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
                let recv = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
                defer { send.deallocate(); recv.deallocate() }
                generator.fill(dtype, rank: comm.rank, offset: 0, count: count, into: send)
                let r = try await comm.run(.allreduce, dtype: dtype, op: op, count: count, send: send, recv: recv,
                                           validation: .generated(generator), algorithm: .ring)
                outcomes.append((bytes(recv, count * dtype.size), r.bitExact, r))
            }
            return outcomes
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(ranks)))
        let perRank = try results.map { try $0.get() }
        for (index, (count, generator)) in zip(counts, generators).enumerated() {
            let replay = HostReplay(tree: tree, collective: .allreduce, dtype: dtype, op: op, count: count, root: 0,
                                    chunkElements: 1024 / dtype.size, algorithm: .ring) { rank, offset, n, into in
                generator.fill(dtype, rank: rank, offset: offset, count: n, into: into)
            }
            let expected = (0..<replay.chunkCount).flatMap { replay.expectedChunk($0) }
            for (rank, outcomes) in perRank.enumerated() {
                let (got, exact, r) = outcomes[index]
                #expect(got == expected, "rank \(rank): ring result differs from the ring-order replay (\(count))")
                #expect(exact == true)
                #expect(r.path == "host ring (requested)")
                if ranks > 1 && count >= ranks {
                    // Each rank moves 2(n−1)/n of the buffer each way, the cost in-network avoids.
                    let segment = (count + ranks - 1) / ranks
                    #expect(r.bytesSent <= 2 * (ranks - 1) * segment * dtype.size)
                    #expect(r.bytesSent >= 2 * (ranks - 1) * (count / ranks) * dtype.size - 2 * segment * dtype.size)
                }
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func ringAllreduceF32(transport: TransportKind) async throws {
        try await ringAllreduce(transport, ranks: 8, counts: Self.counts, dtype: .f32, op: .sum, specials: true)
    }

    @Test(arguments: [1, 2, 3, 5])
    func ringAllreduceRankCounts(ranks: Int) async throws {
        try await ringAllreduce(.inproc, ranks: ranks, counts: [1001], dtype: .bf16, op: .sum, specials: true)
        try await ringAllreduce(.inproc, ranks: ranks, counts: [333], dtype: .i64, op: .prod)
    }

    /// Tree order and ring order are different folds: with these inputs, different float bits —
    /// which is why each replay must use the order that actually ran.
    @Test func ringAndTreeOrdersDiffer() throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(8)))
        let generator = InputGenerator(seed: 5)
        func replay(_ a: Algorithm) -> [UInt8] {
            let r = HostReplay(tree: tree, collective: .allreduce, dtype: .f32, op: .sum, count: 4096, root: 0,
                               chunkElements: 256, algorithm: a) { rank, offset, n, into in
                generator.fill(.f32, rank: rank, offset: offset, count: n, into: into)
            }
            return (0..<r.chunkCount).flatMap { r.expectedChunk($0) }
        }
        #expect(replay(.ring) != replay(.inNetwork))
    }

    @Test(arguments: TransportKind.allCases)
    func ringReduceBroadcastBarrier(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 5, transport: transport)
        let results = try await harness.run { comm -> ([Double], [UInt32], [Bool?]) in
            let send = (0..<777).map { Double($0) + Double(comm.rank) / 8 }
            var reduced = [Double](repeating: -1, count: 777)
            var exact: [Bool?] = []
            let r1 = try await comm.run(.barrier, dtype: .u8, op: .sum, count: 0, send: nil, recv: nil,
                                        algorithm: .ring)
            exact.append(r1.bitExact)
            let r2 = try await comm.reduce(send: send, recv: &reduced, op: .max, root: 2, validation: .shipInput,
                                           algorithm: .ring)
            exact.append(r2.bitExact)
            var b = (0..<5000).map { UInt32($0) &* UInt32(comm.rank + 1) }
            let r3 = try await comm.broadcast(&b, root: 3, validation: .shipInput, algorithm: .ring)
            exact.append(r3.bitExact)
            return (reduced, b, exact)
        }
        for (rank, result) in results.enumerated() {
            let (reduced, b, exact) = try result.get()
            #expect(exact == [nil, true, true])
            if rank == 2 {
                let expected: [Double] = (0..<777).map { (i: Int) -> Double in Double(i) + 0.5 }
                #expect(reduced == expected)
            }
            let expectedB: [UInt32] = (0..<5000).map { (i: Int) -> UInt32 in UInt32(i) &* 4 }
            #expect(b == expectedB)
        }
    }

    /// No aggregator ever registers: the job falls back to the host ring, says so on every
    /// operation, and stays bit-exact.
    @Test(arguments: TransportKind.allCases)
    func noAggregatorsFallsBackToTheRingWithTheReason(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        harness.startAggregators = false
        harness.aggregatorWait = .milliseconds(300)
        let generator = InputGenerator(seed: 9, specials: true)
        let results = try await harness.run { comm -> OperationResult in
            let count = 3000
            let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            defer { p.deallocate() }
            generator.fill(.f32, rank: comm.rank, offset: 0, count: count, into: p)
            let r = try await comm.run(.allreduce, dtype: .f32, op: .sum, count: count, send: p, recv: p,
                                       validation: .generated(generator))
            try await comm.barrier()
            return r
        }
        for result in results {
            let r = try result.get()
            #expect(r.bitExact == true)
            #expect(r.path.hasPrefix("host fallback: no aggregator for leaf0, leaf1, spine0 after 0.3 seconds, and no "
                                     + "tree without them (no switch that can aggregate"), "\(r.path)")
        }
    }
}
