import Authentication
import Foundation
import Testing
import Transport
import TributaryCore
import Worker

/// Mismatched collectives, wrong inputs, silent ranks: each fails with its cause named.
@Suite(.serialized) struct FailureClusterTests {
    @Test(arguments: TransportKind.allCases, TransportKind.variations(["count", "dtype", "op"], representative: "count"))
    func mismatchedCollectiveNamesTheRank(transport: TransportKind, kind: String) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let results = try await harness.run { comm -> Void in
            var count = 500
            var dtype = DType.f32
            var op = ReduceOp.sum
            if comm.rank == 6 {
                switch kind {
                case "count": count += 1
                case "dtype": dtype = .f64
                default: op = .max
                }
            }
            let p = UnsafeMutableRawPointer.allocate(byteCount: count * 8, alignment: 64)
            defer { p.deallocate() }
            p.initializeMemory(as: UInt8.self, repeating: 0, count: count * 8)
            _ = try await comm.run(.allreduce, dtype: dtype, op: op, count: count, send: p, recv: p)
        }
        for (rank, result) in results.enumerated() {
            guard case .remote(let report)? = result.error as? WorkerError else {
                Issue.record("rank \(rank) did not fail with a remote report: \(String(describing: result))")
                continue
            }
            #expect(report.kind == .collectiveMismatch, "rank \(rank): \(report)")
            #expect(report.ranks == [6], "rank \(rank): \(report)")
            #expect(report.description.contains("rank 6"))
        }
    }

    @Test(arguments: TransportKind.allCases)
    func wrongInputClaimFailsValidationWithElementNamed(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 4, transport: transport)
        let generator = InputGenerator(seed: 3)
        let results = try await harness.run { comm -> OperationResult in
            let count = 600
            let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            defer { p.deallocate() }
            generator.fill(.f32, rank: comm.rank, offset: 0, count: count, into: p)
            // Rank 2 perturbs element 300 but claims the generated input: the replay must notice.
            if comm.rank == 2 { p.storeBytes(of: Float(12345), toByteOffset: 300 * 4, as: Float.self) }
            return try await comm.run(.allreduce, dtype: .f32, op: .sum, count: count, send: p, recv: p,
                                      validation: .generated(generator))
        }
        for result in results {
            let r = try result.get()
            #expect(r.bitExact == false)
            #expect(r.detail.contains("chunk 1"), "\(r.detail)")      // 256 f32 per chunk: element 300 is in chunk 1
            #expect(r.detail.contains("index 300"), "\(r.detail)")
        }
    }

    @Test(arguments: TransportKind.allCases)
    func silentRankIsNamedByTheStallReport(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        harness.stallTimeout = .seconds(1)
        harness.operationTimeout = .seconds(20)
        let results = try await harness.run { comm -> Void in
            if comm.rank == 7 {
                // Never calls the collective; stays until the job fails.
                try? await Task.sleep(for: .seconds(4))
                return
            }
            var a = [Float](repeating: 1, count: 100)
            try await comm.allreduce(&a, op: .sum)
        }
        for rank in 0..<7 {
            guard case .remote(let report)? = results[rank].error as? WorkerError else {
                Issue.record("rank \(rank): \(String(describing: results[rank]))")
                continue
            }
            #expect(report.kind == .timeout)
            #expect(report.ranks == [7], "\(report)")
        }
    }

    /// Rogue peers hit every aggregator before the job starts: bytes that do not decode, a wrong
    /// protocol version, a wrong job key, an unknown job. Each gets an error naming the cause, and
    /// the job on the same aggregators still completes bit-exact.
    @Test(arguments: TransportKind.allCases)
    func badPeersDoNotStopTheAggregator(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        harness.rogue = { endpoint, net in
            // 1. Garbage bytes.
            let garbage = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let reply = try await RogueClient.sendRaw(garbage, to: endpoint, over: net)
            #expect(reply.contains("bad magic"), "garbage reply: \(reply)")
            // 2. A frame of a future protocol version.
            var future = WireFormat.encode(.control(.hello(Hello(role: .worker, name: "rogue"))))
            future[4] = 9
            let versionReply = try await RogueClient.sendRaw(future, to: endpoint, over: net)
            #expect(versionReply.contains("version 9"), "version reply: \(versionReply)")
            // 3. An unknown job and 4. (after install) nothing else; valid frames, wrong facts.
            let unknown = try await RogueClient.hello(Hello(role: .worker, name: "rogue", job: 999, childIndex: 0),
                                                      key: AuthKey.random(), to: endpoint, over: net)
            #expect(unknown.contains("unknown job 999"), "unknown job reply: \(unknown)")
        }
        let results = try await harness.run { comm -> [Float] in
            var a = [Float](repeating: Float(comm.rank), count: 2000)
            try await comm.allreduce(&a, op: .sum)
            // A wrong job key for this very job, and no proof at all, then the job goes on.
            if comm.rank == 0 {
                let reply = try await RogueClient.hello(
                    Hello(role: .worker, name: "rogue", job: comm.assignment.job, childIndex: 0), key: AuthKey.random(),
                    to: comm.assignment.leafEndpoint, over: RogueClient.transport)
                #expect(reply.contains("did not prove the key"), "wrong key reply: \(reply)")
                let unproved = try await RogueClient.hello(
                    Hello(role: .worker, name: "rogue", job: comm.assignment.job, childIndex: 0),
                    to: comm.assignment.leafEndpoint, over: RogueClient.transport)
                #expect(unproved.contains("did not prove the key"), "unproved reply: \(unproved)")
            }
            try await comm.allreduce(&a, op: .sum)
            return a
        }
        for r in results { #expect(try r.get() == [Float](repeating: 28 * 8, count: 2000)) }
    }

    /// The coordinator meets bad peers first: data on the control plane, a future protocol
    /// version, a switch it does not know, an impossible rank. Each is refused with the cause named,
    /// and the job that follows still runs.
    @Test(arguments: TransportKind.allCases)
    func badControlPeersAreRefusedByName(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 4, transport: transport)
        let credentials = harness.credentials
        harness.coordinatorRogue = { endpoint, net in
            func exchange(_ frames: [Frame]) async throws -> String {
                let c = try await net.connect(to: endpoint)
                defer { c.close() }
                for f in frames { c.send(f) }
                for try await frame in c.inbound {
                    if case .control(.error(let r)) = frame { return r.description }
                }
                return "closed without an error"
            }
            let chunk = try #require(WireFormatTestFrames.chunk)
            #expect(try await exchange([chunk]).contains("data chunk on the control plane"))
            let future = Frame.control(.hello(Hello(role: .worker, protocolVersion: 9, name: "rogue")))
            #expect(try await exchange([future]).contains("protocol version 9"))
            let unknownSwitch = ControlMessage.registerAggregator(AggregatorRegistration(
                switchName: "spine9", dataEndpoint: Endpoint(host: "127.0.0.1", port: 1), pid: 1))
            let reply = try await RogueClient.control([unknownSwitch], as: .aggregator, key: credentials.daemonKey!,
                                                      to: endpoint, over: net)
            #expect(reply.contains("switch spine9 is not in topology"), "\(reply)")
            let badRank = ControlMessage.registerWorker(WorkerRegistration(
                jobName: "other", rank: 7, worldSize: 2, host: nil, pid: 1, jobProof: "x"))
            let rankReply = try await RogueClient.control([badRank], as: .worker, key: credentials.clientKey,
                                                          to: endpoint, over: net)
            #expect(rankReply.contains("rank 7 is out of range"), "\(rankReply)")
        }
        let results = try await harness.run { comm -> [Int64] in
            var a = [Int64](repeating: Int64(comm.rank), count: 100)
            try await comm.allreduce(&a, op: .sum)
            return a
        }
        for r in results { #expect(try r.get() == [Int64](repeating: 6, count: 100)) }
    }
}

enum WireFormatTestFrames {
    static var chunk: Frame? {
        let h = ChunkHeader(job: 1, origin: 0, opSeq: 1, totalCount: 1, elementOffset: 0, chunkIndex: 0, chunkCount: 1,
                            elementCount: 1, collective: .allreduce, dtype: .u8, op: .sum, flags: [], root: 0,
                            payloadLength: 1)
        return .chunk(h, payload: [1])
    }
}
