import Testing
import TributaryCore

/// Chunk geometry and the block layout of reduce-scatter and all-gather: which ranks a chunk
/// concerns, and the pieces of a result each rank holds — the one derivation the worker, the
/// aggregators, the replay and recovery share.
@Suite struct ChunkGeometryTests {
    @Test func chunksCoverTheVectorAndAnEmptyOperationHasOne() {
        let g = ChunkGeometry(count: 1000, chunkElements: 256)
        #expect(g.chunkCount == 4)
        #expect((0..<4).map(g.range(ofChunk:)) == [0..<256, 256..<512, 512..<768, 768..<1000])
        #expect(g.chunks(overlapping: 255..<257) == 0..<2)
        #expect(g.chunks(overlapping: 300..<300).isEmpty)
        let empty = ChunkGeometry(count: 0, chunkElements: 256)
        #expect(empty.chunkCount == 1 && empty.range(ofChunk: 0).isEmpty)
        #expect(empty.resultPieces(.allreduce, root: 0).isEmpty)
    }

    @Test func blocksNameTheRanksAChunkConcerns() {
        let blocks = BlockLayout(blockCount: 7, worldSize: 8)
        #expect(blocks.ranks(overlapping: 0..<7) == 0..<1)
        #expect(blocks.ranks(overlapping: 6..<15) == 0..<3)
        #expect(blocks.ranks(overlapping: 50..<56) == 7..<8)
        #expect(BlockLayout(blockCount: 0, worldSize: 8).ranks(overlapping: 0..<1).isEmpty)
        // Receivers: a reduce-scatter's chunk goes to the ranks whose blocks it overlaps; an
        // all-gather's comes from them and goes to everyone.
        #expect(Collective.reduceScatter.receivers(of: 6..<15, root: 7, worldSize: 8) == 0..<3)
        #expect(Collective.allGather.receivers(of: 6..<15, root: 7, worldSize: 8) == 0..<8)
        #expect(Collective.allGather.contributors(of: 6..<15, root: 7, worldSize: 8) == 0..<3)
        #expect(Collective.reduce.receivers(of: 0..<9, root: 3, worldSize: 8) == 3..<4)
        #expect(Collective.broadcast.contributors(of: 0..<9, root: 3, worldSize: 8) == 3..<4)
        #expect(Collective.barrier.receivers(of: 0..<0, root: 0, worldSize: 8).isEmpty)
    }

    @Test(arguments: [1, 7, 255, 256, 257, 1000])
    func reduceScatterPiecesTileEachBlockExactly(block: Int) {
        let g = ChunkGeometry(count: 8 * block, chunkElements: 256)
        let pieces = g.resultPieces(.reduceScatter, root: block)
        // The pieces tile the vector in order, none crosses a chunk or a block edge.
        #expect(pieces.map(\.range.count).reduce(0, +) == 8 * block)
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound })
        for p in pieces {
            #expect(g.range(ofChunk: p.chunk).contains(p.range.lowerBound))
            #expect(p.range.lowerBound / block == (p.range.upperBound - 1) / block)
        }
        for rank in 0..<8 {
            let held = g.resultPieces(.reduceScatter, root: block, worldSize: 8, heldBy: rank).map { pieces[$0] }
            #expect(held.first?.range.lowerBound == rank * block && held.last?.range.upperBound == (rank + 1) * block)
        }
        // Every rank holds every piece of an allreduce or an all-gather: one per chunk.
        #expect(g.resultPieces(.allGather, root: block).count == g.chunkCount)
        #expect(g.resultPieces(.allGather, root: block, worldSize: 8, heldBy: 5).count == g.chunkCount)
        #expect(g.resultPieces(.reduce, root: 2, worldSize: 8, heldBy: 5).isEmpty)
    }

    @Test func allGatherReplayIsTheBlocksSideBySide() throws {
        let topology = try Topology.parse(yaml: """
            defaults: { link: { rate: 10Gbit } }
            switches: [{ name: s0, aggregation: { slots: 4, slot_bytes: 4KiB } }]
            hosts: [h0, h1, h2]
            links:
              - { a: h0, b: s0 }
              - { a: h1, b: s0 }
              - { a: h2, b: s0 }
            """, source: "test")
        let tree = try TreeBuilder(topology: topology).build(hosts: ["h0", "h1", "h2"])
        let replay = HostReplay(tree: tree, collective: .allGather, dtype: .u8, op: .sum, count: 9, root: 3,
                                chunkElements: 4) { rank, offset, count, into in
            for i in 0..<count { into.storeBytes(of: UInt8(rank * 16 + offset + i), toByteOffset: i, as: UInt8.self) }
        }
        let whole = (0..<replay.chunkCount).flatMap { replay.expectedChunk($0) }
        #expect(whole == [0, 1, 2, 16, 17, 18, 32, 33, 34])
    }
}
