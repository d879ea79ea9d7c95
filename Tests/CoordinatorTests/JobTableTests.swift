import Foundation
@testable import Coordinator
import Testing
import TributaryCore

/// The coordinator's job table and job records, without any connection.
@Suite struct JobTableTests {
    static func job(_ id: UInt32, _ name: String) -> Job {
        Job(id: id, name: name, worldSize: 2, key: "k", proof: "p", slotRequest: nil, deadline: .now)
    }

    @Test func jobsAreFoundByIdNameAndPeerAndForgottenWhole() {
        var table = JobTable()
        let a = table.create { Self.job($0, "a") }
        let b = table.create { Self.job($0, "b") }
        #expect(a.id != 0 && b.id != 0 && a.id != b.id)
        #expect(table[a.id] === a && table.named("b") === b)
        a.workers[1] = Job.WorkerEntry(peer: 42, host: "h1", pid: 7, ringEndpoint: nil)
        #expect(table[peer: 42] === a)
        #expect(table[peer: 43] == nil)
        table.remove(a.id)
        #expect(table[a.id] == nil && table.named("a") == nil && table[peer: 42] == nil)
        #expect(table.count == 1 && table.ended == 1)
        table.remove(a.id)
        #expect(table.ended == 1, "removing twice counts once")
    }

    /// Ids are drawn at random: a stranger cannot predict the next job's.
    @Test func idsAreNotSequential() {
        var table = JobTable()
        let ids = (0..<64).map { i in table.create { Self.job($0, "j\(i)") }.id }
        #expect(Set(ids).count == 64)
        let steps = zip(ids, ids.dropFirst()).filter { $1 == $0 &+ 1 }.count
        #expect(steps < 4, "ids look sequential: \(ids)")
    }

    /// A finished operation leaves its full record (reports, digests, shipped inputs) and keeps
    /// only its summary line; past the limit a long job stops growing.
    @Test func completedOperationsKeepOnlyTheirSummary() {
        let job = Self.job(9, "long")
        for seq in UInt64(1)...3 {
            let report = OperationReport(job: 9, rank: 0, opSeq: seq, collective: .allreduce, dtype: .f32, op: .sum,
                                         count: 4, root: 0, input: .shipped(Data(repeating: 1, count: 16)),
                                         chunkDigests: [1], seconds: 0.5, path: "in-network", transport: "tcp")
            let record = OpRecord(first: report)
            record.reports[0] = report
            job.operations[seq] = record
        }
        job.complete(2)
        #expect(job.operations.keys.sorted() == [1, 3])
        #expect(job.completed.map(\.opSeq) == [2] && job.completedCount == 1)
        #expect(job.summary(tree: "", topology: "t").operations.map(\.opSeq) == [1, 2, 3])
        job.complete(2)
        #expect(job.completedCount == 1, "completing twice counts once")
    }
}
