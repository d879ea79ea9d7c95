import Foundation
import Testing
import TributaryCore
import Worker

/// Reduce-scatter and all-gather through the tree and the host ring over every transport: each
/// rank's block equals the host replay's, in place and out of place, for blocks of 0, 1, odd and
/// chunk ± 1 elements (so chunks straddle block edges), validated by the coordinator too. One job per
/// transport and collective runs every block size and both algorithms in turn, the way an application
/// mixes sizes (and a cluster boot over RDMA in the emulated guest costs seconds).
@Suite(.serialized) struct BlockCollectiveClusterTests {
    /// Chunks are 1 KiB in the harness: 256 f32. Over soft-RoCE in the emulated guest, where every
    /// operation costs a second, empty, one-element, chunk + 1 and many-chunk blocks stand for all.
    static let blocks = TransportKind.inEmulatedGuest ? [0, 1, 257, 1000] : [0, 1, 7, 255, 257, 1000]
    static let cases = Algorithm.allCases.flatMap { algorithm in blocks.map { (algorithm, $0) } }

    /// One operation's outcome at one rank.
    struct Outcome: Sendable {
        var outOfPlace: [UInt8]
        var inPlace: [UInt8]
        var bitExact: Bool?
        var path: String
        var bytesReceived: Int
        var bytesSent: Int
    }

    @Test(arguments: TransportKind.allCases)
    func reduceScatterKeepsEachRanksBlockOfTheReplay(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let results = try await harness.run { comm -> [Outcome] in
            var outcomes: [Outcome] = []
            for (algorithm, block) in Self.cases {
                let generator = Self.generator(block: block, salt: 5)
                let total = 8 * block
                let send = UnsafeMutableRawPointer.allocate(byteCount: max(4, total * 4), alignment: 64)
                let recv = UnsafeMutableRawPointer.allocate(byteCount: max(4, block * 4), alignment: 64)
                defer { send.deallocate(); recv.deallocate() }
                generator.fill(.f32, rank: comm.rank, offset: 0, count: total, into: send)
                let out = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send, recv: recv,
                                                       validation: .generated(generator), algorithm: algorithm)
                let outOfPlace = bytes(recv, block * 4)
                // In place: the block lands at this rank's own place in the input.
                let own = send + comm.rank * block * 4
                let inPlace = try await comm.reduceScatter(dtype: .f32, op: .sum, blockCount: block, send: send,
                                                           recv: own, validation: .generated(generator),
                                                           algorithm: algorithm)
                #expect(total == 0 || inPlace.bitExact == true, "rank \(comm.rank) block \(block): \(inPlace.detail)")
                outcomes.append(Outcome(outOfPlace: outOfPlace, inPlace: bytes(own, block * 4), bitExact: out.bitExact,
                                        path: out.path, bytesReceived: out.bytesReceived, bytesSent: out.bytesSent))
            }
            return outcomes
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(8)))
        let perRank = try results.map { try $0.get() }
        for (index, (algorithm, block)) in Self.cases.enumerated() {
            let total = 8 * block
            let generator = Self.generator(block: block, salt: 5)
            let replay = HostReplay(tree: tree, collective: .reduceScatter, dtype: .f32, op: .sum, count: total,
                                    root: block, chunkElements: 256, algorithm: algorithm) { rank, offset, n, into in
                generator.fill(.f32, rank: rank, offset: offset, count: n, into: into)
            }
            let whole = (0..<replay.chunkCount).flatMap { replay.expectedChunk($0) }
            for (rank, outcomes) in perRank.enumerated() {
                let outcome = outcomes[index]
                let expected = Array(whole[(rank * block * 4)..<((rank + 1) * block * 4)])
                #expect(outcome.outOfPlace == expected, "rank \(rank) block \(block) \(algorithm) out of place")
                #expect(outcome.inPlace == expected, "rank \(rank) block \(block) \(algorithm) in place")
                #expect(total == 0 || outcome.bitExact == true)
                if algorithm == .inNetwork {
                    #expect(outcome.path.hasPrefix("in-network"))
                    // The down path brings a rank only the chunks that overlap its block, not the vector.
                    let geometry = ChunkGeometry(count: total, chunkElements: 256)
                    let most = geometry.chunks(overlapping: (rank * block)..<((rank + 1) * block))
                        .map { geometry.range(ofChunk: $0).count }.reduce(0, +) * 4
                    #expect(outcome.bytesReceived == most,
                            "rank \(rank) block \(block) received \(outcome.bytesReceived) bytes, its chunks hold \(most)")
                } else {
                    #expect(outcome.path.contains("ring"))
                }
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func allGatherGivesEveryRankEveryBlock(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let results = try await harness.run { comm -> [Outcome] in
            var outcomes: [Outcome] = []
            for (algorithm, block) in Self.cases {
                let generator = Self.generator(block: block, salt: 9)
                let total = 8 * block
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
                let inPlace = try await comm.allGather(dtype: .f64, blockCount: block,
                                                       send: recv + comm.rank * block * 8, recv: recv,
                                                       validation: .generated(generator), algorithm: algorithm)
                #expect(total == 0 || inPlace.bitExact == true, "rank \(comm.rank) block \(block): \(inPlace.detail)")
                outcomes.append(Outcome(outOfPlace: outOfPlace, inPlace: bytes(recv, total * 8), bitExact: out.bitExact,
                                        path: out.path, bytesReceived: out.bytesReceived, bytesSent: out.bytesSent))
            }
            return outcomes
        }
        let perRank = try results.map { try $0.get() }
        for (index, (algorithm, block)) in Self.cases.enumerated() {
            let total = 8 * block
            let generator = Self.generator(block: block, salt: 9)
            var expected: [UInt8] = []
            for rank in 0..<8 {
                var part = [UInt8](repeating: 0, count: block * 8)
                part.withUnsafeMutableBytes { generator.fill(.f64, rank: rank, offset: 0, count: $0.count / 8, into: $0.baseAddress!) }
                expected += part
            }
            for (rank, outcomes) in perRank.enumerated() {
                let outcome = outcomes[index]
                #expect(outcome.outOfPlace == expected, "rank \(rank) block \(block) \(algorithm) out of place")
                #expect(outcome.inPlace == expected, "rank \(rank) block \(block) \(algorithm) in place")
                #expect(total == 0 || outcome.bitExact == true)
                if algorithm == .inNetwork {
                    // Up the tree a rank sends only the chunks that overlap its block (chunks are 128 f64).
                    let geometry = ChunkGeometry(count: total, chunkElements: 128)
                    let most = geometry.chunks(overlapping: (rank * block)..<((rank + 1) * block))
                        .map { geometry.range(ofChunk: $0).count }.reduce(0, +) * 8
                    #expect(outcome.bytesSent == most,
                            "rank \(rank) block \(block) sent \(outcome.bytesSent) bytes, its chunks hold \(most)")
                }
            }
        }
    }

    static func generator(block: Int, salt: UInt64) -> InputGenerator {
        InputGenerator(seed: UInt64(block) &+ salt, specials: true)
    }
}
