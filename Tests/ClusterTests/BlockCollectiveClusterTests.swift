import Foundation
import Testing
import TributaryCore
import Worker

/// Reduce-scatter and all-gather through the tree over every transport: each rank's block equals
/// the host replay's, in place and out of place, for blocks of 0, 1, odd and chunk ± 1 elements.
@Suite(.serialized) struct BlockCollectiveClusterTests {
    /// Chunks are 1 KiB in the harness: 256 f32.
    static let blocks = [0, 1, 7, 255, 257]

    @Test(arguments: TransportKind.allCases, blocks)
    func reduceScatterKeepsEachRanksBlockOfTheReplay(transport: TransportKind, block: Int) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let generator = InputGenerator(seed: UInt64(block) &+ 5, specials: true)
        let total = 8 * block
        let results = try await harness.run { comm -> ([UInt8], [UInt8], Bool?, String) in
            let send = UnsafeMutableRawPointer.allocate(byteCount: max(4, total * 4), alignment: 64)
            let recv = UnsafeMutableRawPointer.allocate(byteCount: max(4, block * 4), alignment: 64)
            defer { send.deallocate(); recv.deallocate() }
            generator.fill(.f32, rank: comm.rank, offset: 0, count: total, into: send)
            let out = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send, recv: recv,
                                                   validation: .generated(generator))
            let outOfPlace = bytes(recv, block * 4)
            // In place: the block lands at this rank's own place in the input.
            let own = send + comm.rank * block * 4
            _ = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send, recv: own)
            return (outOfPlace, bytes(own, block * 4), out.bitExact, out.path)
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(8)))
        let replay = HostReplay(tree: tree, collective: .allreduce, dtype: .f32, op: .sum, count: total, root: 0,
                                chunkElements: 256) { rank, offset, n, into in
            generator.fill(.f32, rank: rank, offset: offset, count: n, into: into)
        }
        let whole = (0..<replay.chunkCount).flatMap { replay.expectedChunk($0) }
        for (rank, result) in results.enumerated() {
            let (outOfPlace, inPlace, bitExact, path) = try result.get()
            let expected = Array(whole[(rank * block * 4)..<((rank + 1) * block * 4)])
            #expect(outOfPlace == expected, "rank \(rank) block \(block) out of place")
            #expect(inPlace == expected, "rank \(rank) block \(block) in place")
            #expect(total == 0 || bitExact == true)
            #expect(path.hasPrefix("in-network") && path.contains("reduce-scatter"))
        }
    }

    @Test(arguments: TransportKind.allCases, blocks)
    func allGatherGivesEveryRankEveryBlock(transport: TransportKind, block: Int) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let generator = InputGenerator(seed: UInt64(block) &+ 9, specials: true)
        let total = 8 * block
        let results = try await harness.run { comm -> ([UInt8], [UInt8], Bool?) in
            let mine = UnsafeMutableRawPointer.allocate(byteCount: max(8, block * 8), alignment: 64)
            let recv = UnsafeMutableRawPointer.allocate(byteCount: max(8, total * 8), alignment: 64)
            defer { mine.deallocate(); recv.deallocate() }
            generator.fill(.f64, rank: comm.rank, offset: 0, count: block, into: mine)
            memset(recv, 0x5A, max(8, total * 8))
            let out = try await comm.allGather(dtype: .f64, blockCount: block, send: mine, recv: recv,
                                               validation: .shipInput)
            let outOfPlace = bytes(recv, total * 8)
            memset(recv, 0x5A, max(8, total * 8))
            (recv + comm.rank * block * 8).copyMemory(from: mine, byteCount: block * 8)
            _ = try await comm.allGather(dtype: .f64, blockCount: block, send: recv + comm.rank * block * 8, recv: recv)
            return (outOfPlace, bytes(recv, total * 8), out.bitExact)
        }
        var expected: [UInt8] = []
        for rank in 0..<8 {
            var block = [UInt8](repeating: 0, count: block * 8)
            block.withUnsafeMutableBytes { generator.fill(.f64, rank: rank, offset: 0, count: $0.count / 8, into: $0.baseAddress!) }
            expected += block
        }
        for (rank, result) in results.enumerated() {
            let (outOfPlace, inPlace, bitExact) = try result.get()
            #expect(outOfPlace == expected, "rank \(rank) block \(block) out of place")
            #expect(inPlace == expected, "rank \(rank) block \(block) in place")
            #expect(total == 0 || bitExact == true)
        }
    }
}
