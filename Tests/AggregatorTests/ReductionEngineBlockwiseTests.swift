import Aggregator
import Testing
import TributaryCore

/// The engine's reduce-scatter and all-gather, without sockets: which children get a chunk's data
/// on the way down, and how owners' zero-padded blocks join on the way up.
@Suite struct ReductionEngineBlockwiseTests {
    /// A root with three workers; chunks of 4 u8 elements.
    let engine = ReductionEngine(assignment: AggregatorAssignment(
        job: 1, jobName: "j", jobKey: String(repeating: "0", count: 64), switchName: "leaf0",
        parent: nil, childIndexAtParent: nil,
        children: [.worker(rank: 0), .worker(rank: 1), .worker(rank: 2)], childRanks: [[0], [1], [2]],
        streaming: StreamingParameters(chunkBytes: 4, window: 4), slots: 4, slotBytes: 4))

    /// Chunk `k` of a blockwise collective over 3 blocks of `block` u8 elements.
    func header(_ collective: Collective, chunk: Int, block: Int, payload: Int, empty: Bool = false) -> ChunkHeader {
        let total = 3 * block
        let lo = chunk * 4
        return ChunkHeader(job: 1, origin: 0, opSeq: 1, totalCount: UInt64(total), elementOffset: UInt64(lo),
                           chunkIndex: UInt32(chunk), chunkCount: UInt32((total + 3) / 4),
                           elementCount: UInt32(min(4, total - lo)), collective: collective, dtype: .u8, op: .sum,
                           flags: empty ? [.empty] : [], root: UInt32(block), payloadLength: UInt32(payload))
    }

    /// (child, data or nil for an empty result) of every chunk sent down.
    func downs(_ actions: [EngineAction]) -> [(Int, [UInt8]?)] {
        actions.compactMap {
            guard case .sendDown(let child, .chunk(let h, let payload)) = $0 else { return nil }
            return (child, h.flags.contains(.empty) ? nil : payload)
        }
    }

    @Test func reduceScatterSendsEachChildOnlyTheChunksOverItsBlock() {
        // Blocks of 3: chunk 0 = elements 0-3 overlaps ranks 0 and 1; chunk 2 = element 8, rank 2's.
        var actions: [EngineAction] = []
        for child in 0..<3 {
            actions = engine.contribution(from: child, header: header(.reduceScatter, chunk: 0, block: 3, payload: 4),
                                          payload: [1, 2, 3, UInt8(child)])
        }
        let first = downs(actions)
        #expect(first.map(\.0) == [0, 1, 2])
        #expect(first[0].1 == [3, 6, 9, 3] && first[1].1 == [3, 6, 9, 3] && first[2].1 == nil)
        for child in 0..<3 {
            actions = engine.contribution(from: child, header: header(.reduceScatter, chunk: 2, block: 3, payload: 1),
                                          payload: [7])
        }
        let last = downs(actions)
        #expect(last[0].1 == nil && last[1].1 == nil && last[2].1 == [21])
    }

    @Test func allGatherJoinsTheOwnersBlocksAndSendsTheWholeChunkToEveryone() {
        // Chunk 0 holds rank 0's block (elements 0-2) and rank 1's first element; rank 2 grants credit.
        var actions = engine.contribution(from: 0, header: header(.allGather, chunk: 0, block: 3, payload: 4),
                                          payload: [0x10, 0x11, 0x12, 0])
        #expect(actions.isEmpty)
        actions = engine.contribution(from: 1, header: header(.allGather, chunk: 0, block: 3, payload: 4),
                                      payload: [0, 0, 0, 0x20])
        actions = engine.contribution(from: 2, header: header(.allGather, chunk: 0, block: 3, payload: 0, empty: true),
                                      payload: [])
        let down = downs(actions)
        #expect(down.count == 3 && down.allSatisfy { $0.1 == [0x10, 0x11, 0x12, 0x20] })
    }

    @Test func anAllGatherChunkWithoutItsOwnersDataIsAViolationNamingThem() {
        // Chunk 2 (element 8) is rank 2's; every child sends it empty.
        var actions: [EngineAction] = []
        for child in 0..<3 {
            actions = engine.contribution(from: child, header: header(.allGather, chunk: 2, block: 3, payload: 0, empty: true),
                                          payload: [])
        }
        guard case .fail(let report)? = actions.first else {
            Issue.record("expected a failure, got \(actions)")
            return
        }
        #expect(report.ranks == [2])
        #expect(report.message.contains("all-gather chunk 2"))
    }
}
