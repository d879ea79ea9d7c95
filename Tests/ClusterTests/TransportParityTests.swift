import Foundation
import Testing
import TributaryCore
import TributaryTestSupport
import Worker

/// Transport parity: the same seeded workload through the same tree over TCP and over RDMA gives
/// byte-identical results on every rank — and both match the host replay, which the coordinator
/// checks. Needs an RDMA device, so it runs in the rxe VM (scripts/rdma-tests).
@Suite(.serialized, .enabled(if: RDMATestHost.usable, "needs an RDMA device (run inside the rxe VM: scripts/rdma-tests)"))
struct TransportParityTests {
    struct Workload: Sendable {
        var collective: Collective
        var dtype: DType
        var op: ReduceOp
        var count: Int
    }

    /// Lengths that are not multiples of anything, every float format with NaN payloads, ±0, ±inf and
    /// subnormals in the inputs, integer ops, and each collective.
    static let workloads: [Workload] = [
        Workload(collective: .allreduce, dtype: .f32, op: .sum, count: 3 * 256 + 7),
        Workload(collective: .allreduce, dtype: .f32, op: .sum, count: 65_537),
        Workload(collective: .allreduce, dtype: .f16, op: .sum, count: 1001),
        Workload(collective: .allreduce, dtype: .bf16, op: .max, count: 777),
        Workload(collective: .allreduce, dtype: .f64, op: .prod, count: 300),
        Workload(collective: .allreduce, dtype: .i32, op: .bxor, count: 4099),
        Workload(collective: .allreduce, dtype: .u8, op: .min, count: 1),
        Workload(collective: .reduce, dtype: .f32, op: .min, count: 2049),
        Workload(collective: .broadcast, dtype: .f64, op: .sum, count: 513),
    ]

    /// Every rank's result bytes for every workload, and whether the coordinator found them exact.
    func run(over transport: TransportKind) async throws -> [[[UInt8]]] {
        let topology = try ClusterHarness.topology("two-leaves.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 4, transport: transport)
        let results = try await harness.run { comm -> [[UInt8]] in
            var out: [[UInt8]] = []
            for (index, w) in Self.workloads.enumerated() {
                let generator = InputGenerator(seed: 0xC0FFEE &+ UInt64(index), specials: w.dtype.isFloatingPoint)
                let size = max(1, w.count * w.dtype.size)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
                defer { buffer.deallocate() }
                generator.fill(w.dtype, rank: comm.rank, offset: 0, count: w.count, into: buffer)
                let r = try await comm.run(w.collective, dtype: w.dtype, op: w.op, count: w.count, root: 1,
                                           send: buffer, recv: buffer, validation: .generated(generator))
                #expect(r.bitExact == true, "rank \(comm.rank), \(w) over \(transport): \(r.detail)")
                #expect(r.transport.hasPrefix(transport.rawValue), "\(r.transport)")
                out.append(bytes(buffer, w.count * w.dtype.size))
            }
            return out
        }
        return try results.map { try $0.get() }
    }

    @Test func tcpAndRDMAGiveByteIdenticalResults() async throws {
        let overTCP = try await run(over: .tcp)
        let overRDMA = try await run(over: .rdma)
        #expect(overTCP.count == 4 && overRDMA.count == 4)
        for rank in overTCP.indices {
            for (index, w) in Self.workloads.enumerated() {
                let a = overTCP[rank][index], b = overRDMA[rank][index]
                #expect(a.count == w.count * w.dtype.size)
                #expect(a.count == b.count)
                if let at = a.indices.first(where: { $0 >= b.count || a[$0] != b[$0] }) {
                    Issue.record("rank \(rank), \(w): TCP and RDMA differ first at byte \(at) (element \(at / w.dtype.size)) of \(a.count)")
                }
            }
        }
    }
}
