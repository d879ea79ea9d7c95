import Aggregator
import Testing
import TributaryCore

/// What the engine tells heartbeats and stall checks: which slots wait for which children, which
/// chunks wait for the parent's result, how many chunks were folded.
@Suite struct ReductionEngineStatusTests {
    func engine(root: Bool) -> ReductionEngine {
        ReductionEngine(assignment: AggregatorAssignment(
            job: 1, jobName: "j", jobKey: String(repeating: "0", count: 64), switchName: "leaf0",
            parent: root ? nil : Endpoint(host: "127.0.0.1", port: 1), childIndexAtParent: root ? nil : 0,
            children: [.worker(rank: 0), .worker(rank: 1), .worker(rank: 2)], childRanks: [[0], [1], [2]],
            streaming: StreamingParameters(chunkBytes: 64, window: 4), slots: 4, slotBytes: 64))
    }

    func header(op: UInt64, chunk: UInt32, result: Bool = false) -> ChunkHeader {
        ChunkHeader(job: 1, origin: 0, opSeq: op, totalCount: 32, elementOffset: UInt64(chunk) * 4, chunkIndex: chunk,
                    chunkCount: 8, elementCount: 4, collective: .allreduce, dtype: .f32, op: .sum,
                    flags: result ? [.result] : [], root: 0, payloadLength: 16)
    }

    let payload = [UInt8](repeating: 1, count: 16)

    @Test func waitsNameTheMissingChildrenOldestFirst() {
        let e = engine(root: true)
        _ = e.contribution(from: 0, header: header(op: 1, chunk: 1), payload: payload, now: 200)
        _ = e.contribution(from: 1, header: header(op: 1, chunk: 1), payload: payload, now: 210)
        _ = e.contribution(from: 2, header: header(op: 1, chunk: 0), payload: payload, now: 100)
        let waits = e.waits(limit: 4)
        #expect(waits.map(\.chunk) == [0, 1], "oldest first")
        #expect(waits[0].missing == [0, 1] && waits[0].ranks == [0, 1] && waits[0].since == 100)
        #expect(waits[1].missing == [2] && waits[1].ranks == [2])
        #expect(e.waits(limit: 1).count == 1)
        _ = e.contribution(from: 2, header: header(op: 1, chunk: 1), payload: payload, now: 300)
        #expect(e.chunksFolded == 1)
        #expect(e.lastFold?.chunk == 1 && e.lastFold?.waited == 100)
        #expect(e.waits(limit: 4).map(\.chunk) == [0])
    }

    @Test func chunksSentUpWaitForTheParentsResultAndAStallIsReportedOnce() {
        let e = engine(root: false)
        for chunk in [UInt32(0), 1] {
            for child in 0..<3 {
                _ = e.contribution(from: child, header: header(op: 5, chunk: chunk), payload: payload,
                                   now: 1_000 + UInt64(chunk))
            }
        }
        #expect(e.oldestAwaitingParent()?.chunk == 0)
        #expect(e.oldestAwaitingParent()?.since == 1_000)
        #expect(e.parentStalls(now: 1_500, timeout: 1_000).isEmpty, "not yet")
        let stalls = e.parentStalls(now: 5_000, timeout: 1_000)
        #expect(stalls.count == 1 && stalls[0].opSeq == 5, "one report per operation")
        #expect(e.parentStalls(now: 9_000, timeout: 1_000).isEmpty, "reported once")
        _ = e.result(header: header(op: 5, chunk: 0, result: true), payload: payload)
        #expect(e.oldestAwaitingParent()?.chunk == 1)
        e.abandon(opSeq: 5)
        #expect(e.oldestAwaitingParent() == nil)
    }

    @Test func theRootWaitsForNoParent() {
        let e = engine(root: true)
        for child in 0..<3 { _ = e.contribution(from: child, header: header(op: 1, chunk: 0), payload: payload, now: 1) }
        #expect(e.oldestAwaitingParent() == nil)
        #expect(e.parentStalls(now: .max, timeout: 0).isEmpty)
    }
}
