import Foundation
import Testing
import Transport
import TributaryCore
import Worker

/// The fault hooks of the aggregator and the worker, in one process over each transport: a
/// corrupted payload is caught by validation naming the chunk, a delayed link and a slow rank stay
/// bit-exact, a dropped frame is a stall naming the rank it belongs to. (Kills and hangs end or
/// stop a process: the launch matrix, `FaultMatrixTests`, runs those.)
@Suite(.serialized) struct FaultClusterTests {
    /// Every rank allreduces 600 i32 (three chunks of 256) of generated input, validated.
    static func allreduce(_ comm: Communicator, operations: Int = 1) async throws -> [OperationResult] {
        let generator = InputGenerator(seed: 5)
        let count = 600
        let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        defer { p.deallocate() }
        var results: [OperationResult] = []
        for _ in 0..<operations {
            generator.fill(.i32, rank: comm.rank, offset: 0, count: count, into: p)
            results.append(try await comm.run(.allreduce, dtype: .i32, op: .sum, count: count, send: p, recv: p,
                                               validation: .generated(generator)))
        }
        return results
    }

    /// Integers, so a flipped bit cannot vanish in rounding: every rank's result is wrong in chunk 1.
    @Test(arguments: TransportKind.allCases,
          TransportKind.variations(["corrupt:leaf0@op=2,chunk=1", "corrupt:h5-leaf1@op=2,chunk=1;seed=9"],
                                   representative: "corrupt:h5-leaf1@op=2,chunk=1;seed=9"))
    func aCorruptedPayloadFailsValidationNamingTheChunk(transport: TransportKind, spec: String) async throws {
        var harness = ClusterHarness(topology: try ClusterHarness.topology("default.yaml"), ranks: 8,
                                     transport: transport)
        harness.faults = try FaultPlan.parse(spec)
        let results = try await harness.run { comm in try await Self.allreduce(comm, operations: 3) }
        for (rank, result) in results.enumerated() {
            let ops = try result.get()
            #expect(ops.map(\.bitExact) == [true, false, true], "rank \(rank): \(ops.map(\.detail))")
            #expect(ops[1].detail.hasPrefix("rank \(rank) chunk 1 element "), "\(ops[1].detail)")
        }
    }

    @Test(arguments: TransportKind.allCases)
    func aDelayedLinkAndASlowRankStayBitExact(transport: TransportKind) async throws {
        var harness = ClusterHarness(topology: try ClusterHarness.topology("default.yaml"), ranks: 8,
                                     transport: transport)
        harness.faults = try FaultPlan.parse("delay:leaf1-spine0@ms=20;delay:h2-leaf0@ms=5,frames=0.5;slow:rank=6@ms=50")
        let start = ContinuousClock.now
        let results = try await harness.run { comm in try await Self.allreduce(comm, operations: 2) }
        for result in results { #expect(try result.get().allSatisfy { $0.bitExact == true }) }
        // Two operations, each behind a 50 ms straggler and a 20 ms link each way.
        #expect(ContinuousClock.now - start > .milliseconds(2 * (50 + 40)))
    }

    /// Rank 2's chunk 0 of op 1 never reaches leaf0: leaf0's slot waits for it past the stall timeout
    /// and the job fails naming rank 2 — not hanging, and not blaming the ranks that did send.
    @Test(arguments: TransportKind.allCases)
    func aDroppedFrameIsAStallNamingItsRank(transport: TransportKind) async throws {
        var harness = ClusterHarness(topology: try ClusterHarness.topology("default.yaml"), ranks: 8,
                                     transport: transport)
        harness.faults = try FaultPlan.parse("drop:h2-leaf0@op=1,chunk=0")
        harness.stallTimeout = .seconds(1)
        harness.operationTimeout = .seconds(20)
        let start = ContinuousClock.now
        let results = try await harness.run { comm in try await Self.allreduce(comm) }
        #expect(ContinuousClock.now - start < .seconds(15))
        for (rank, result) in results.enumerated() {
            guard case .remote(let report)? = result.error as? WorkerError else {
                Issue.record("rank \(rank) did not fail with the stall: \(String(describing: result))")
                continue
            }
            #expect(report.kind == .timeout, "\(report)")
            #expect(report.ranks == [2], "\(report)")
        }
    }

    /// In one process a kill cannot end anything: the hook is handed it, once, at the named chunk.
    @Test func aKillIsHandedToItsOwnerOnceAtItsContribution() async throws {
        final class Struck: @unchecked Sendable {
            let lock = NSLock()
            var faults: [String] = []
        }
        let struck = Struck()
        var harness = ClusterHarness(topology: try ClusterHarness.topology("default.yaml"), ranks: 8, transport: .inproc)
        harness.faults = try FaultPlan.parse("kill:leaf1@op=2,chunk=2")
        harness.faultStruck = { fault, what in struck.lock.withLock { struck.faults.append("\(fault): \(what)") } }
        let results = try await harness.run { comm in try await Self.allreduce(comm, operations: 3) }
        for result in results { #expect(try result.get().allSatisfy { $0.bitExact == true }) }
        #expect(struck.faults == ["kill: kill leaf1 at op 2 chunk 2 (job default op 2 chunk 2)"])
    }
}
