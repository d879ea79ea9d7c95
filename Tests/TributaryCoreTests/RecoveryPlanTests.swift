import Testing
import TributaryCore

/// What a recovery does with the ranks' states: pure logic, every case a lost switch can leave.
@Suite struct RecoveryPlanTests {
    static func state(_ rank: Int, op: UInt64, finished: Bool = false, held: [Int] = [], chunks: Int = 8,
                      collective: Collective = .allreduce, root: Int = 0, retainedOp: UInt64 = 0, retained: [Int] = [],
                      damaged: [Int] = [], chunkElements: Int = 0) -> RecoveryState {
        RecoveryState(job: 1, rank: rank, epoch: 1, opSeq: op, finished: finished, held: held, chunkCount: chunks,
                      collective: collective, root: root, retainedOp: retainedOp, retained: retained, damaged: damaged,
                      chunkElements: chunkElements)
    }

    static func plan(_ states: [RecoveryState]) throws -> RecoveryPlan {
        try RecoveryPlan.make(states: Dictionary(uniqueKeysWithValues: states.map { ($0.rank, $0) }),
                              worldSize: states.count)
    }

    /// A reduce-scatter over 4 ranks with blocks of 3 in chunks of 2: chunk k = [2k, 2k+2), so
    /// chunk 1 straddles ranks 0 and 1, chunk 2 lies in rank 1's block, chunk 3 straddles 2 and 3.
    static func scatter(_ rank: Int, held: [Int]) -> RecoveryState {
        state(rank, op: 5, held: held, chunks: 6, collective: .reduceScatter, root: 3, chunkElements: 2)
    }

    @Test func aReduceScatterChunkGoesOnlyToTheRanksWhoseBlocksItOverlaps() throws {
        // Ranks 0-1 (surviving leaf) got chunks 0-2, ranks 2-3 (lost leaf) 0-1; rank 1 missed chunk 1.
        let plan = try Self.plan([
            Self.scatter(0, held: [0, 1, 2]), Self.scatter(1, held: [0, 2]),
            Self.scatter(2, held: [0, 1]), Self.scatter(3, held: [0, 1]),
        ])
        #expect(plan.recompute == [3, 4, 5])
        #expect(plan.decided == [0, 1, 2])
        #expect(plan.shares == [
            // Rank 1's part of chunk 1 comes from rank 0, the other rank that holds chunk 1's data.
            .init(chunk: 1, holder: 0, lacking: [1], needBytes: [1]),
            // Chunk 2 is rank 1's alone: ranks 2 and 3 only need to know it is done.
            .init(chunk: 2, holder: nil, lacking: [2, 3], needBytes: []),
        ])
    }

    @Test func aReduceScatterOfAnotherShapeIsInconsistent() throws {
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.scatter(0, held: []), Self.state(1, op: 5, chunks: 6, collective: .reduceScatter,
                                                                 root: 3, chunkElements: 4)])
        }
        // Chunks that cannot be blocks of 3 over 2 ranks in chunks of 2.
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.scatter(0, held: []), Self.scatter(1, held: [])])
        }
    }

    @Test func nothingHeldMeansEveryChunkAgain() throws {
        let plan = try Self.plan((0..<4).map { Self.state($0, op: 3) })
        #expect(plan.opSeq == 3)
        #expect(plan.recompute == Array(0..<8))
        #expect(plan.shares.isEmpty && plan.decided.isEmpty)
    }

    @Test func aChunkSomeRankHoldsIsPassedToTheOthersNotComputedAgain() throws {
        // Ranks 0-1 (under the surviving leaf) got chunks 0-5; ranks 2-3 (under the lost one) 0-3.
        let plan = try Self.plan([
            Self.state(0, op: 3, held: Array(0..<6)), Self.state(1, op: 3, held: Array(0..<6)),
            Self.state(2, op: 3, held: Array(0..<4)), Self.state(3, op: 3, held: Array(0..<4)),
        ])
        #expect(plan.recompute == [6, 7])
        #expect(plan.decided == Array(0..<6))
        #expect(plan.shares == [
            .init(chunk: 4, holder: 0, lacking: [2, 3], needBytes: [2, 3]),
            .init(chunk: 5, holder: 0, lacking: [2, 3], needBytes: [2, 3]),
        ])
    }

    @Test func aRankPastTheOperationGivesWhatItRetained() throws {
        // Rank 0 finished op 3 and is in op 4; it keeps chunks 5-7 of op 3. Rank 1 still lacks 6 and 7.
        let plan = try Self.plan([
            Self.state(0, op: 4, retainedOp: 3, retained: [5, 6, 7]),
            Self.state(1, op: 3, held: Array(0..<6)),
        ])
        #expect(plan.opSeq == 3)
        #expect(plan.recompute.isEmpty)
        #expect(plan.shares.map(\.chunk) == [6, 7] && plan.shares.allSatisfy { $0.holder == 0 && $0.lacking == [1] })
    }

    @Test func aResultNobodyCanGiveFailsNamingTheRanks() throws {
        // Rank 0 returned from op 3 keeping only chunk 7; rank 1 lacks chunk 6: its bytes are gone.
        #expect(throws: RecoveryPlan.Failure.resultLost(opSeq: 3, chunk: 6, lacking: [1])) {
            try Self.plan([
                Self.state(0, op: 3, finished: true, retainedOp: 3, retained: [7]),
                Self.state(1, op: 3, held: Array(0..<6)),
            ])
        }
    }

    @Test func everyRankFinishedLeavesNothingToDo() throws {
        let plan = try Self.plan((0..<3).map { Self.state($0, op: 5, finished: true, retainedOp: 5, retained: [7]) })
        #expect(plan.opSeq == nil && plan.recompute.isEmpty && plan.shares.isEmpty)
    }

    @Test func aReduceWhoseRootMissedTheResultIsComputedAgainWhileEveryRankIsInIt() throws {
        // Non-roots got the acknowledgements of chunks 0-3; the root got 0-1 only.
        let plan = try Self.plan([
            Self.state(0, op: 2, held: [0, 1], collective: .reduce, root: 0),
            Self.state(1, op: 2, held: [0, 1, 2, 3], collective: .reduce, root: 0),
            Self.state(2, op: 2, held: [0, 1, 2, 3], collective: .reduce, root: 0),
        ])
        #expect(plan.recompute == [2, 3, 4, 5, 6, 7])
        #expect(plan.decided == [0, 1])
        #expect(plan.shares.isEmpty)
    }

    @Test func aReduceNonRootLackingOnlyAnAcknowledgementGetsNoBytes() throws {
        let plan = try Self.plan([
            Self.state(0, op: 2, held: [0, 1, 2], collective: .reduce, root: 0),
            Self.state(1, op: 2, held: [0, 1], collective: .reduce, root: 0),
        ])
        #expect(plan.shares == [.init(chunk: 2, holder: nil, lacking: [1], needBytes: [])])
        #expect(plan.recompute == [3, 4, 5, 6, 7])
    }

    @Test func aBarrierIsPassedOnWithoutBytes() throws {
        let plan = try Self.plan([
            Self.state(0, op: 9, held: [0], chunks: 1, collective: .barrier),
            Self.state(1, op: 9, held: [], chunks: 1, collective: .barrier),
        ])
        #expect(plan.shares == [.init(chunk: 0, holder: nil, lacking: [1], needBytes: [])])
        #expect(plan.recompute.isEmpty)
    }

    @Test func anOverwrittenInputForAChunkToComputeAgainFails() throws {
        #expect(throws: RecoveryPlan.Failure.inputLost(opSeq: 3, chunk: 5, ranks: [1])) {
            try Self.plan([
                Self.state(0, op: 3, held: Array(0..<5)),
                Self.state(1, op: 3, held: Array(0..<5), damaged: [5]),
            ])
        }
        // The same damage is harmless when another rank holds the chunk: its bytes replace the half-placed ones.
        let plan = try Self.plan([
            Self.state(0, op: 3, held: Array(0..<6)),
            Self.state(1, op: 3, held: Array(0..<5), damaged: [5]),
        ])
        #expect(plan.shares == [.init(chunk: 5, holder: 0, lacking: [1], needBytes: [1])])
    }

    @Test func statesThatCannotBeAreRefused() {
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.state(0, op: 5), Self.state(1, op: 3)])  // two operations apart
        }
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.state(0, op: 3, held: [8]), Self.state(1, op: 3)])  // chunk out of range
        }
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.state(0, op: 3, chunks: 8), Self.state(1, op: 3, chunks: 9)])
        }
        #expect(throws: RecoveryPlan.Failure.self) {
            try RecoveryPlan.make(states: [0: Self.state(0, op: 3)], worldSize: 2)  // a rank missing
        }
        // A forged count is refused before anything is sized by it.
        #expect(throws: RecoveryPlan.Failure.self) {
            try Self.plan([Self.state(0, op: 3, chunks: Int.max), Self.state(1, op: 3, chunks: Int.max)])
        }
    }
}
