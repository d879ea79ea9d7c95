import Aggregator
import Foundation
import Testing
import Transport
import TributaryCore
import Worker

/// One long-running fabric serving many jobs: concurrent jobs never see each other's data, and
/// nothing a finished job held stays in the coordinator or any aggregator.
@Suite(.serialized) struct FabricServiceTests {
    /// Two tenants on the same leaf at once, each with its own data and secret: each gets its own
    /// sum, bit for bit, however their chunks interleave at the shared switch.
    @Test(arguments: TransportKind.allCases)
    func concurrentJobsOnSharedSwitchesNeverMix(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        harness.slotRequest = 16
        let fabric = try await harness.startFabric()
        let hosts = ["h0", "h1", "h4", "h5"]
        async let a = harness.runJob(on: fabric, name: "tenant-a", ranks: 4, hosts: hosts, jobSecret: "a") { comm in
            var v = [Double](repeating: Double(comm.rank + 1), count: 5000)
            for _ in 0..<5 { try await comm.allreduce(&v, op: .sum) }
            return v
        }
        async let b = harness.runJob(on: fabric, name: "tenant-b", ranks: 4, hosts: hosts, jobSecret: "b") { comm in
            var v = [Double](repeating: Double(100 * (comm.rank + 1)), count: 5000)
            for _ in 0..<5 { try await comm.allreduce(&v, op: .sum) }
            return v
        }
        let (ra, rb) = try await (a, b)
        // 1+2+3+4 = 10, then ×4 for each later allreduce: 10 × 4^4.
        for r in ra { #expect(try r.get() == [Double](repeating: 10 * 256, count: 5000)) }
        for r in rb { #expect(try r.get() == [Double](repeating: 1000 * 256, count: 5000)) }
        await fabric.stop()
    }

    /// A thousand short jobs one after another on one fabric: afterwards the coordinator holds no
    /// job, operation, admission or queue entry, and no aggregator holds a job.
    @Test(arguments: TransportKind.allCases.map { kind in
        // Many over the in-process transport, fewer over sockets, a handful over RDMA in the VM (TCG).
        (kind, [TransportKind.inproc: 1000, .tcp: 150, .rdma: 12][kind]!)
    })
    func shortJobsLeaveNothingBehind(transport: TransportKind, jobs: Int) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let fabric = try await harness.startFabric()
        let before = residentBytes()
        for j in 0..<jobs {
            let hosts = j % 2 == 0 ? ["h0", "h1"] : ["h2", "h6"]
            let results = try await harness.runJob(on: fabric, name: "job-\(j)", ranks: 2, hosts: hosts) { comm in
                var v = [Int32](repeating: Int32(comm.rank), count: 100)
                try await comm.allreduce(&v, op: .sum)
                return v
            }
            for r in results { #expect(try r.get() == [Int32](repeating: 1, count: 100)) }
        }
        // The last job's ranks said done; its end reaches the switches a moment later.
        var holdings = await fabric.coordinator.holdings
        var installed = 0
        for _ in 0..<100 {
            holdings = await fabric.coordinator.holdings
            installed = 0
            for aggregator in fabric.aggregators { installed += await aggregator.jobCount }
            if holdings.jobs == 0 && installed == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(holdings.jobs == 0 && holdings.admitted == 0 && holdings.operations == 0 && holdings.queued == 0,
                "\(holdings)")
        #expect(installed == 0, "aggregators still hold \(installed) jobs")
        let after = residentBytes()
        print("\(jobs) short jobs over \(transport): test process resident \(before >> 20) → \(after >> 20) MiB")
        await fabric.stop()
    }

    private func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
        }
        return 0
    }
}
