import Aggregator
import Foundation
import Testing
import TributaryCore
import Worker

/// A lost switch costs a retry, over every transport: in one process, a "killed" aggregator is
/// one stopped where its kill strikes (every connection it had closes, as when a process dies). The
/// job's tree is rebuilt without it, the interrupted operation finishes — chunks some rank held
/// passed to the others, the rest computed by the new tree — and every result is bit-exact
/// against a replay of the trees that actually ran (f32 sums, so a wrong fold order would show).
@Suite(.serialized) struct RecoveryClusterTests {
    final class Daemons: @unchecked Sendable {
        let lock = NSLock()
        var byName: [String: AggregatorDaemon] = [:]
        var struck: [String] = []
    }

    struct Outcome: Sendable {
        var results: [OperationResult]
        var bytes: [[UInt8]]
    }

    /// Six allreduces of `count` f32 with specials, in place then out of place by turns.
    static func workload(_ comm: Communicator, count: Int) async throws -> Outcome {
        var outcome = Outcome(results: [], bytes: [])
        let send = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        let recv = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        defer { send.deallocate(); recv.deallocate() }
        for op in 1...6 {
            let generator = InputGenerator(seed: UInt64(op), specials: true)
            generator.fill(.f32, rank: comm.rank, offset: 0, count: count, into: send)
            let into = op % 2 == 0 ? send : recv
            outcome.results.append(try await comm.run(.allreduce, dtype: .f32, op: .sum, count: count, send: send,
                                                      recv: into, validation: .generated(generator)))
            outcome.bytes.append(bytes(into, count * 4))
        }
        return outcome
    }

    /// Six reduce-scatters or all-gathers of 8 blocks of `block` f32 with specials, in place then out
    /// of place by turns (blocks of 625 f32: chunks of 256 straddle block edges, so a chunk's data
    /// goes to two ranks and recovery shares parts of chunks).
    static func blockWorkload(_ comm: Communicator, _ collective: Collective, block: Int) async throws -> Outcome {
        var outcome = Outcome(results: [], bytes: [])
        let total = block * comm.worldSize
        let send = UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64)
        let recv = UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64)
        defer { send.deallocate(); recv.deallocate() }
        let own = comm.rank * block * 4
        for op in 1...6 {
            let generator = InputGenerator(seed: UInt64(op) &+ 40, specials: true)
            let inPlace = op % 2 == 0
            if collective == .reduceScatter {
                generator.fill(.f32, rank: comm.rank, offset: 0, count: total, into: send)
                let into = inPlace ? send + own : recv
                outcome.results.append(try await comm.reduceScatter(
                    dtype: .f32, op: .sum, blockCount: block, send: send, recv: into, validation: .generated(generator)))
                outcome.bytes.append(bytes(into, block * 4))
            } else {
                let into = inPlace ? send : recv
                generator.fill(.f32, rank: comm.rank, offset: 0, count: block, into: into + own)
                outcome.results.append(try await comm.allGather(
                    dtype: .f32, blockCount: block, send: into + own, recv: into, validation: .generated(generator)))
                outcome.bytes.append(bytes(into, total * 4))
            }
        }
        return outcome
    }

    /// Each spec with the operations it retries and the switches each one names. In the last, leaf0
    /// dies in op 2 and spine0 dies in the same op, on the tree that replaced leaf0: op 2's chunks
    /// then come from three trees, and the replay must fold each in the order of the one that computed it.
    static let specs: [(spec: String, retried: [Int: [String]])] = [
        ("kill:leaf0@op=2,chunk=9;kill:spine0@op=4,chunk=3", [2: ["leaf0"], 4: ["spine0"]]),
        ("kill:spine0@op=3,chunk=12", [3: ["spine0"]]),
        ("kill:leaf0@op=2,chunk=5;kill:spine0@op=2,chunk=14", [2: ["leaf0", "spine0"]]),
    ]

    @Test(arguments: TransportKind.allCases, TransportKind.variations(Array(specs.indices), representative: 2))
    func aKilledSwitchCostsARetryAndEveryResultStaysBitExact(transport: TransportKind, index: Int) async throws {
        try await killedSwitch(transport: transport, index: index, collective: .allreduce)
    }

    @Test(arguments: TransportKind.allCases,
          TransportKind.variations([Collective.reduceScatter, .allGather], representative: .allGather))
    func reduceScatterAndAllGatherSurviveAKilledSwitch(transport: TransportKind, collective: Collective) async throws {
        try await killedSwitch(transport: transport, index: 2, collective: collective)
    }

    func killedSwitch(transport: TransportKind, index: Int, collective: Collective) async throws {
        let (spec, expected) = Self.specs[index]
        var harness = ClusterHarness(topology: try ClusterHarness.topology("default.yaml"), ranks: 8,
                                     transport: transport)
        harness.faults = try FaultPlan.parse(spec)
        let daemons = Daemons()
        harness.faultStruck = { fault, what in
            guard fault == .kill, let name = what.split(separator: " ").dropFirst().first.map(String.init) else { return }
            let daemon = daemons.lock.withLock { () -> AggregatorDaemon? in
                daemons.struck.append(name)
                return daemons.byName[name]
            }
            if let daemon { Task { await daemon.stop() } }
        }
        let fabric = try await harness.startFabric()
        for daemon in fabric.aggregators {
            let name = await daemon.configuration.switchName
            daemons.lock.withLock { daemons.byName[name] = daemon }
        }
        let count = 5000  // 20 chunks of 256 f32, window 4
        let results = try await harness.runJob(on: fabric) { comm in
            collective == .allreduce ? try await Self.workload(comm, count: count)
                : try await Self.blockWorkload(comm, collective, block: count / 8)
        }
        await fabric.stop()
        let killed = spec.split(separator: ";").map { $0.dropFirst(5).prefix { $0 != "@" } }.map(String.init)
        #expect(daemons.struck == killed, "\(daemons.struck)")
        var reference: [[UInt8]]?
        for (rank, result) in results.enumerated() {
            let outcome = try result.get()
            #expect(outcome.results.map(\.bitExact) == Array(repeating: true, count: 6),
                    "rank \(rank): \(outcome.results.map(\.detail))")
            let retried = Dictionary(uniqueKeysWithValues: outcome.results.compactMap { r in
                r.retried.map { (Int(r.opSeq), $0) }
            })
            #expect(Set(retried.keys) == Set(expected.keys), "rank \(rank): \(retried)")
            for (op, names) in expected {
                for name in names {
                    #expect(retried[op]?.contains("aggregator \(name) lost") == true, "rank \(rank) op \(op): \(retried)")
                }
            }
            // Every rank holds the same bits (the replay checked them; this checks they agree too).
            if collective == .reduceScatter { continue }  // each rank holds its own block
            if let reference { #expect(outcome.bytes == reference, "rank \(rank) differs from rank 0") }
            reference = reference ?? outcome.bytes
        }
    }
}
