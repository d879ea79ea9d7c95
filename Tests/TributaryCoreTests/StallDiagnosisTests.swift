import Testing
import TributaryCore

/// Who a stalled job waits for, from heartbeats: a hung switch is named as the switch, a hung rank
/// as the rank, a rank that never called the operation as that rank.
@Suite struct StallDiagnosisTests {
    /// spine0 over leaf0 (ranks 0-3, hosts h0-h3) and leaf1 (ranks 4-7).
    let tree = AggregationTree(root: "spine0", nodes: [
        "spine0": .init(name: "spine0", parent: nil, children: [.aggregator(name: "leaf0"), .aggregator(name: "leaf1")],
                        level: 0),
        "leaf0": .init(name: "leaf0", parent: "spine0", children: (0..<4).map { .worker(rank: $0) }, level: 1),
        "leaf1": .init(name: "leaf1", parent: "spine0", children: (4..<8).map { .worker(rank: $0) }, level: 1),
    ], hosts: (0..<8).map { "h\($0)" })

    func job(waits: [AggregatorStatus.SlotWait] = [], up: AggregatorStatus.ChunkWait? = nil) -> AggregatorStatus.JobStatus {
        AggregatorStatus.JobStatus(job: 1, slotsInUse: waits.count, slots: 16, chunksFolded: 10, waits: waits,
                                   awaitingParent: up)
    }

    func ranks(silent: [Int: Double] = [:], inOp: [Int] = Array(0..<8), op: UInt64 = 12) -> [Int: StallDiagnosis.RankReport] {
        Dictionary(uniqueKeysWithValues: (0..<8).map { rank in
            let progress = inOp.contains(rank)
                ? WorkerStatus.Progress(opSeq: op, collective: .allreduce, seconds: 4.2, chunks: 64, chunksSent: 16,
                                        resultsReceived: 0, waitingFor: rank < 4 ? "leaf0" : "leaf1")
                : nil
            return (rank, StallDiagnosis.RankReport(status: WorkerStatus(job: 1, rank: rank, operation: progress),
                                                    silentFor: silent[rank] ?? 0.2, host: "h\(rank)", pid: 100 + Int32(rank)))
        })
    }

    @Test func aStoppedLeafIsNamedAsTheSwitch() {
        let d = StallDiagnosis(job: "train", tree: tree, switches: [
            "spine0": .init(status: job(waits: [.init(opSeq: 12, chunk: 44, missing: ["leaf1"], missingRanks: [4, 5, 6, 7],
                                                      seconds: 4.1)]), silentFor: 0.3, pid: 10),
            "leaf0": .init(status: job(up: .init(opSeq: 12, chunk: 44, parent: "spine0", seconds: 4.0)), silentFor: 0.2),
            "leaf1": .init(status: job(), silentFor: 4.3, pid: 12),
        ], ranks: ranks())
        #expect(d.culpritSwitches == ["leaf1"])
        #expect(d.cause == "switch leaf1 (pid 12) is not responding: no heartbeat for 4.3 s")
        #expect(d.lines.contains("job train op 12 chunk 44: leaf0 waits for spine0's result of chunk 44 (4.0 s); "
                                 + "spine0 waits for leaf1 (4.1 s)"), "\(d.lines)")
    }

    @Test func aStoppedSpineIsNamedAsTheSwitch() {
        let d = StallDiagnosis(job: "train", tree: tree, switches: [
            "spine0": .init(status: job(), silentFor: 3.0),
            "leaf0": .init(status: job(up: .init(opSeq: 12, chunk: 3, parent: "spine0", seconds: 2.9)), silentFor: 0.1),
            "leaf1": .init(status: job(up: .init(opSeq: 12, chunk: 3, parent: "spine0", seconds: 2.9)), silentFor: 0.1),
        ], ranks: ranks())
        #expect(d.culpritSwitches == ["spine0"])
        #expect(d.cause?.hasPrefix("switch spine0 is not responding") == true)
    }

    @Test func aStoppedRankIsNamedAsTheRankAndTheLeafWaitsForIt() {
        let d = StallDiagnosis(job: "train", tree: tree, switches: [
            "spine0": .init(status: job(waits: [.init(opSeq: 12, chunk: 0, missing: ["leaf1"], missingRanks: [5],
                                                      seconds: 3.0)]), silentFor: 0.1),
            "leaf0": .init(status: job(), silentFor: 0.1),
            "leaf1": .init(status: job(waits: [.init(opSeq: 12, chunk: 0, missing: ["h5"], missingRanks: [5],
                                                     seconds: 3.0)]), silentFor: 0.1),
        ], ranks: ranks(silent: [5: 2.8]))
        #expect(d.culpritSwitches.isEmpty)
        #expect(d.culpritRanks == [5])
        #expect(d.lines.contains("rank 5 (host h5, pid 105) is not responding: no heartbeat for 2.8 s"))
        #expect(d.lines.contains { $0.contains("leaf1 waits for rank 5 (3.0 s)") }, "\(d.lines)")
    }

    @Test func ranksThatNeverCalledTheOperationAreTheCause() {
        let d = StallDiagnosis(job: "train", tree: tree, switches: [
            "spine0": .init(status: job(), silentFor: 0.1), "leaf0": .init(status: job(), silentFor: 0.1),
            "leaf1": .init(status: job(waits: [.init(opSeq: 12, chunk: 0, missing: ["h6", "h7"], missingRanks: [6, 7],
                                                     seconds: 5)]), silentFor: 0.1),
        ], ranks: ranks(inOp: [0, 1, 2, 3, 4, 5]))
        #expect(d.culpritRanks == [6, 7])
        #expect(d.cause == "ranks 6,7 never called op 12 (allreduce)" || d.cause == "ranks 6-7 never called op 12 (allreduce)")
    }

    @Test func shortWaitsAreTrafficNotStalls() {
        let d = StallDiagnosis(job: "train", tree: tree, switches: [
            "spine0": .init(status: job(waits: [.init(opSeq: 12, chunk: 0, missing: ["leaf1"], missingRanks: [4],
                                                      seconds: 0.01)]), silentFor: 0.1),
            "leaf0": .init(status: job(), silentFor: 0.1), "leaf1": .init(status: job(), silentFor: 0.4),
        ], ranks: ranks().mapValues { var r = $0; r.status?.operation?.seconds = 0.01; return r })
        #expect(d.lines.isEmpty && d.cause == nil)
    }
}
