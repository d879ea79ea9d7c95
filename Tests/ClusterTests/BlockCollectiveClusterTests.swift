import Foundation
import Testing
import TributaryCore
import Worker

/// Reduce-scatter and all-gather through the tree and the host ring over every transport: each
/// rank's block equals the host replay's, in place and out of place, for blocks of 0, 1, odd and
/// chunk ± 1 elements (so chunks straddle block edges), validated by the coordinator too.
@Suite(.serialized) struct BlockCollectiveClusterTests {
    /// Chunks are 1 KiB in the harness: 256 f32.
    static let blocks = [0, 1, 7, 255, 257, 1000]

    @Test(arguments: TransportKind.allCases, blocks)
    func reduceScatterKeepsEachRanksBlockOfTheReplay(transport: TransportKind, block: Int) async throws {
        for algorithm in Algorithm.allCases {
            try await reduceScatter(transport: transport, block: block, algorithm: algorithm)
        }
    }

    @Test(arguments: TransportKind.allCases, blocks)
    func allGatherGivesEveryRankEveryBlock(transport: TransportKind, block: Int) async throws {
        for algorithm in Algorithm.allCases {
            try await allGather(transport: transport, block: block, algorithm: algorithm)
        }
    }

    func reduceScatter(transport: TransportKind, block: Int, algorithm: Algorithm) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let generator = InputGenerator(seed: UInt64(block) &+ 5, specials: true)
        let total = 8 * block
        let results = try await harness.run { comm -> ([UInt8], [UInt8], Bool?, String, Int) in
            let send = UnsafeMutableRawPointer.allocate(byteCount: max(4, total * 4), alignment: 64)
            let recv = UnsafeMutableRawPointer.allocate(byteCount: max(4, block * 4), alignment: 64)
            defer { send.deallocate(); recv.deallocate() }
            generator.fill(.f32, rank: comm.rank, offset: 0, count: total, into: send)
            let out = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send, recv: recv,
                                                   validation: .generated(generator), algorithm: algorithm)
            let outOfPlace = bytes(recv, block * 4)
            // In place: the block lands at this rank's own place in the input.
            let own = send + comm.rank * block * 4
            let inPlace = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send, recv: own,
                                                       validation: .generated(generator), algorithm: algorithm)
            #expect(total == 0 || inPlace.bitExact == true, "rank \(comm.rank): \(inPlace.detail)")
            return (outOfPlace, bytes(own, block * 4), out.bitExact, out.path, out.bytesReceived)
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(8)))
        let replay = HostReplay(tree: tree, collective: .reduceScatter, dtype: .f32, op: .sum, count: total,
                                root: block, chunkElements: 256, algorithm: algorithm) { rank, offset, n, into in
            generator.fill(.f32, rank: rank, offset: offset, count: n, into: into)
        }
        let whole = (0..<replay.chunkCount).flatMap { replay.expectedChunk($0) }
        for (rank, result) in results.enumerated() {
            let (outOfPlace, inPlace, bitExact, path, received) = try result.get()
            let expected = Array(whole[(rank * block * 4)..<((rank + 1) * block * 4)])
            #expect(outOfPlace == expected, "rank \(rank) block \(block) \(algorithm) out of place")
            #expect(inPlace == expected, "rank \(rank) block \(block) \(algorithm) in place")
            #expect(total == 0 || bitExact == true)
            if algorithm == .inNetwork {
                #expect(path.hasPrefix("in-network"))
                // The down path brings a rank only the chunks that overlap its block, not the vector.
                let chunks = ChunkGeometry(count: total, chunkElements: 256)
                    .chunks(overlapping: (rank * block)..<((rank + 1) * block))
                let most = chunks.map { ChunkGeometry(count: total, chunkElements: 256).range(ofChunk: $0).count }
                    .reduce(0, +) * 4
                #expect(received == most, "rank \(rank) received \(received) bytes, its chunks hold \(most)")
            } else {
                #expect(path.contains("ring"))
            }
        }
    }

    func allGather(transport: TransportKind, block: Int, algorithm: Algorithm) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let generator = InputGenerator(seed: UInt64(block) &+ 9, specials: true)
        let total = 8 * block
        let results = try await harness.run { comm -> ([UInt8], [UInt8], Bool?, Int) in
            let mine = UnsafeMutableRawPointer.allocate(byteCount: max(8, block * 8), alignment: 64)
            let recv = UnsafeMutableRawPointer.allocate(byteCount: max(8, total * 8), alignment: 64)
            defer { mine.deallocate(); recv.deallocate() }
            generator.fill(.f64, rank: comm.rank, offset: 0, count: block, into: mine)
            memset(recv, 0x5A, max(8, total * 8))
            let out = try await comm.allGather(dtype: .f64, blockCount: block, send: mine, recv: recv,
                                               validation: .shipInput, algorithm: algorithm)
            let outOfPlace = bytes(recv, total * 8)
            memset(recv, 0x5A, max(8, total * 8))
            (recv + comm.rank * block * 8).copyMemory(from: mine, byteCount: block * 8)
            let inPlace = try await comm.allGather(dtype: .f64, blockCount: block, send: recv + comm.rank * block * 8,
                                                   recv: recv, validation: .generated(generator), algorithm: algorithm)
            #expect(total == 0 || inPlace.bitExact == true, "rank \(comm.rank): \(inPlace.detail)")
            return (outOfPlace, bytes(recv, total * 8), out.bitExact, out.bytesSent)
        }
        var expected: [UInt8] = []
        for rank in 0..<8 {
            var block = [UInt8](repeating: 0, count: block * 8)
            block.withUnsafeMutableBytes { generator.fill(.f64, rank: rank, offset: 0, count: $0.count / 8, into: $0.baseAddress!) }
            expected += block
        }
        for (rank, result) in results.enumerated() {
            let (outOfPlace, inPlace, bitExact, sent) = try result.get()
            #expect(outOfPlace == expected, "rank \(rank) block \(block) \(algorithm) out of place")
            #expect(inPlace == expected, "rank \(rank) block \(block) \(algorithm) in place")
            #expect(total == 0 || bitExact == true)
            if algorithm == .inNetwork {
                // Up the tree a rank sends only the chunks that overlap its block (chunks are 128 f64).
                let geometry = ChunkGeometry(count: total, chunkElements: 128)
                let most = geometry.chunks(overlapping: (rank * block)..<((rank + 1) * block))
                    .map { geometry.range(ofChunk: $0).count }.reduce(0, +) * 8
                #expect(sent == most, "rank \(rank) sent \(sent) bytes, its chunks hold \(most)")
            }
        }
    }
}
