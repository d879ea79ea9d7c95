import Authentication
import Foundation
import Testing
import Transport
import TributaryCore
import TributaryTestSupport
import Worker

/// The probe a hostile but fair user runs against a fabric: strangers without the fabric's key,
/// and tenants holding the client key but not the job's secret, try to end, fake or join a running
/// job. Every attempt is refused by name, and the job finishes bit-exact.
@Suite(.serialized) struct ForgedPeerTests {
    @Test(arguments: TransportKind.allCases)
    func strangersAndOtherTenantsCannotEndFakeOrJoinAJob(transport: TransportKind) async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        let harness = ClusterHarness(topology: topology, ranks: 8, transport: transport)
        let credentials = harness.credentials
        let results = try await harness.run { comm -> [Float] in
            var a = [Float](repeating: Float(comm.rank), count: 3000)
            try await comm.allreduce(&a, op: .sum)
            if comm.rank == 0 {
                let coordinator = comm.configuration.coordinator
                let net = try #require(harness.control.transport)
                let job = comm.assignment.job
                // A stranger without the fabric's key is refused at hello, with or without a proof.
                let unproved = try await RogueClient.hello(Hello(role: .worker, name: "stranger"),
                                                           to: coordinator, over: net)
                #expect(unproved.contains("did not prove the fabric's key"), "\(unproved)")
                let wrongKey = try await RogueClient.hello(Hello(role: .worker, name: "stranger"), key: .random(),
                                                           to: coordinator, over: net)
                #expect(wrongKey.contains("did not prove the fabric's key"), "\(wrongKey)")
                // A tenant's client key does not make it a switch.
                let asSwitch = try await RogueClient.hello(Hello(role: .aggregator, name: "leaf0"),
                                                           key: credentials.clientKey, to: coordinator, over: net)
                #expect(asSwitch.contains("did not prove the fabric's key"), "\(asSwitch)")
                // A tenant cannot speak for ranks it did not register: done, reports, readiness.
                for forged: ControlMessage in [
                    .workerDone(WorkerDone(job: job, rank: 3, operations: 60)),
                    .opReport(OperationReport(job: job, rank: 5, opSeq: 2, collective: .allreduce, dtype: .f32,
                                              op: .sum, count: 1, root: 0, input: .none, chunkDigests: [],
                                              seconds: 0, path: "forged", transport: "tcp")),
                    .workerReady(WorkerReady(job: job, rank: 2)),
                ] {
                    let reply = try await RogueClient.control([forged], as: .worker, key: credentials.clientKey,
                                                              to: coordinator, over: net)
                    #expect(reply.contains("did not register"), "\(forged): \(reply)")
                }
                // An error report about a job the sender is not part of is ignored: it ends nothing.
                let error = ErrorReport(kind: .internalError, job: job, ranks: [3], reporter: "rank 3",
                                        message: "forged failure")
                let errorReply = try await RogueClient.control([.error(error)], as: .worker,
                                                               key: credentials.clientKey, to: coordinator, over: net,
                                                               wait: .seconds(1))
                #expect(!errorReply.contains("forged failure"), "\(errorReply)")
                // Joining the job needs its secret.
                let join = ControlMessage.registerWorker(WorkerRegistration(
                    jobName: "default", rank: 0, worldSize: 8, host: nil, pid: 1,
                    jobProof: JobSecret.proof(secret: "guess", jobName: "default")))
                let joinReply = try await RogueClient.control([join], as: .worker, key: credentials.clientKey,
                                                              to: coordinator, over: net)
                #expect(joinReply.contains("does not hold job default's secret"), "\(joinReply)")
                // A rank's ring listener closes once its predecessor has proved the job key: nobody
                // can take that place afterwards.
                if transport != .rdma, let next = comm.assignment.ringNext {
                    await #expect(throws: TransportError.self) { _ = try await net.connect(to: next) }
                }
            }
            // The job goes on, whole.
            try await comm.allreduce(&a, op: .sum)
            return a
        }
        for r in results { #expect(try r.get() == [Float](repeating: 28 * 8, count: 3000)) }
    }

    /// Connections that never authenticate are bounded in number and closed after the hello
    /// timeout; a 12-byte header declaring a huge body is refused at its preamble, before any
    /// allocation. The job that follows runs.
    @Test func unauthenticatedConnectionsAreBoundedTimedOutAndHeldToSmallFrames() async throws {
        let topology = try ClusterHarness.topology("default.yaml")
        var harness = ClusterHarness(topology: topology, ranks: 4, transport: .tcp)
        harness.configure = { c in
            c.helloTimeout = .milliseconds(400)
            c.maxUnauthenticated = 8
        }
        harness.coordinatorRogue = { endpoint, _ in
            // Ten silent connections: eight wait for their timeout, two are closed at once.
            let sockets = try (0..<10).map { _ in try RawSocket.connect(endpoint) }
            defer { sockets.forEach { close($0) } }
            let start = ContinuousClock.now
            var closedAt: [Duration] = []
            var challenged = 0
            for fd in sockets {
                // A connection within the cap is challenged first; one past it is closed unanswered.
                if !RawSocket.readAll(fd).isEmpty { challenged += 1 }
                closedAt.append(ContinuousClock.now - start)
            }
            #expect(challenged == 8, "connections past the cap of 8 were served")
            #expect(closedAt.allSatisfy { $0 < .seconds(3) }, "silent connections stayed open: \(closedAt)")
            // A preamble announcing the largest control body: refused by size, nothing allocated.
            let fd = try RawSocket.connect(endpoint)
            defer { close(fd) }
            var header: [UInt8] = []
            WireFormat.appendPreamble(kind: .control, bodyLength: WireFormat.defaultMaxControlBody, into: &header)
            RawSocket.write(fd, header)
            var accumulator = FrameAccumulator()
            let frames = (try? accumulator.feed(RawSocket.readAll(fd))) ?? []
            let errors = frames.compactMap { frame -> ErrorReport? in
                if case .control(.error(let r)) = frame { return r }
                return nil
            }
            #expect(errors.first?.message.contains("exceeds limit \(WireFormat.preAuthenticationMaxBody)") == true,
                    "\(frames)")
        }
        let results = try await harness.run { comm -> [Int32] in
            var a = [Int32](repeating: Int32(comm.rank), count: 10)
            try await comm.allreduce(&a, op: .sum)
            return a
        }
        for r in results { #expect(try r.get() == [Int32](repeating: 6, count: 10)) }
    }
}
