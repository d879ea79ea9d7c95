import Foundation
import TributaryCore

/// The seed inputs of the frame-parser and control-message fuzz targets (`Fuzz/corpus/<target>/`),
/// made by the project's own encoder so that they are real traffic; `FuzzInputsTests` checks that the
/// committed files still are (and rewrites them with `TRIBUTARY_WRITE_FUZZ_CORPUS=1`). The topology
/// seeds are YAML written by hand, plus `Configs/*.yaml`.
enum FuzzSeeds {
    static let endpoint = Endpoint(host: "10.0.0.2", port: 7100)
    static let streaming = StreamingParameters(chunkBytes: 4096, window: 4)

    /// One of each kind of control message, with every optional field and nested type filled somewhere.
    static let controlMessages: [(name: String, message: ControlMessage)] = [
        ("challenge", .challenge(Challenge(nonce: "9f1c2e"))),
        ("hello", .hello(Hello(role: .worker, name: "rank 3", job: 2, childIndex: 1, nonce: "ab01", proof: "cd02"))),
        ("hello-ack", .helloAck(HelloAck(name: "leaf0", proof: "ef03"))),
        ("register-aggregator", .registerAggregator(AggregatorRegistration(switchName: "leaf0", dataEndpoint: endpoint,
                                                                           pid: 4242))),
        ("register-worker", .registerWorker(WorkerRegistration(jobName: "train", rank: 1, worldSize: 8, host: "h1",
                                                               pid: 77, ringEndpoint: endpoint, jobProof: "p",
                                                               slotRequest: 16))),
        ("assign-aggregator", .assignAggregator(AggregatorAssignment(
            job: 1, jobName: "train", jobKey: "k", switchName: "leaf0", parent: endpoint, childIndexAtParent: 0,
            children: [.aggregator(name: "leaf1"), .worker(rank: 4)], childRanks: [[0, 1], [4]],
            streaming: streaming, slots: 8, slotBytes: 4096))),
        ("assign-worker", .assignWorker(WorkerAssignment(
            job: 1, jobName: "train", jobKey: "k", rank: 4, worldSize: 8, leaf: "leaf0", leafEndpoint: endpoint,
            childIndex: 1, streaming: streaming, path: "in-network: tree spine0 → leaf0, leaf1 (2 levels)",
            ringNext: endpoint, fallbackReason: nil))),
        ("op-report-generated", .opReport(OperationReport(
            job: 1, rank: 2, opSeq: 3, collective: .reduce, dtype: .bf16, op: .max, count: 9, root: 1,
            input: .generated(InputGenerator(seed: 5, specials: true)), chunkDigests: [1, UInt64.max], seconds: 0.5,
            path: "in-network", transport: "tcp", bytesSent: 18, bytesReceived: 18))),
        ("op-report-shipped", .opReport(OperationReport(
            job: 1, rank: 2, opSeq: 4, collective: .allreduce, dtype: .u8, op: .bxor, count: 3, root: 0,
            input: .shipped(Data([1, 2, 255])), chunkDigests: [7], seconds: 1e-6, path: "host fallback: one rank",
            transport: "inproc", algorithm: .ring))),
        ("verdict", .verdict(Verdict(job: 1, opSeq: 3, rank: 2, bitExact: false,
                                     detail: "rank 2 chunk 0 element 5: 0x7fc00000 vs 0x7fc00001"))),
        ("fetch-chunks", .fetchChunks(FetchChunks(job: 1, opSeq: 3, chunks: [0, 2]))),
        ("recovery-query", .recoveryQuery(RecoveryQuery(job: 1, epoch: 2, reason: "aggregator leaf0 lost: hung",
                                                        lost: ["leaf0"]))),
        ("recovery-state", .recoveryState(RecoveryState(
            job: 1, rank: 2, epoch: 2, opSeq: 7, finished: false, held: [0, 1, 3], chunkCount: 5, collective: .reduce,
            root: 1, retainedOp: 6, retained: [3, 4], damaged: [2]))),
        ("recovery-resume", .recoveryResume(RecoveryResume(
            job: 1, epoch: 2, assignment: WorkerAssignment(
                job: 1, jobName: "train", jobKey: "k", rank: 2, worldSize: 8, leaf: "spine0", leafEndpoint: endpoint,
                childIndex: 2, streaming: streaming, path: "in-network: tree spine0 (rebuilt without leaf0)"),
            opSeq: 7, recompute: [2, 4], shared: [3], reason: "aggregator leaf0 lost: hung"))),
        ("chunk-data", .chunkData(ChunkData(job: 1, opSeq: 3, rank: 2, chunks: [0], bytes: [Data([0, 0, 128, 63])]))),
        ("error", .error(ErrorReport(kind: .collectiveMismatch, job: 1, opSeq: 2, ranks: [3, 5],
                                     reporter: "aggregator leaf0", message: "dtype f32 vs f16"))),
        ("worker-done", .workerDone(WorkerDone(job: 1, rank: 2, operations: 10))),
        ("list-jobs", .listJobs),
        ("job-list", .jobList(JobList(jobs: [JobInfo(id: 7, name: "train", ranks: 8, registered: 8, phase: "running",
                                                     path: "in-network", slots: ["leaf0": 16], operations: 3,
                                                     seconds: 1.5)],
                                      ended: 2, switches: ["leaf0"], topology: "two-leaves"))),
        ("aggregator-status", .aggregatorStatus(AggregatorStatus(
            switchName: "leaf0",
            jobs: [.init(job: 1, slotsInUse: 2, slots: 8, chunksFolded: 40,
                         waits: [.init(opSeq: 3, chunk: 1, missing: ["h1"], missingRanks: [1], seconds: 2.5)],
                         awaitingParent: .init(opSeq: 3, chunk: 0, parent: "spine0", seconds: 0.25))],
            links: [LinkLoad(from: "h0", to: "leaf0", bytesUp: 4096, bytesDown: 4096)]))),
        ("worker-status", .workerStatus(WorkerStatus(job: 1, rank: 2, operation: .init(
            opSeq: 3, collective: .allreduce, seconds: 0.1, chunks: 4, chunksSent: 4, resultsReceived: 2,
            waitingFor: "leaf0")))),
        ("status-request", .statusRequest),
        ("live-status", .liveStatus(LiveStatus(
            topology: "two-leaves",
            switches: [.init(name: "leaf0", registered: true, silentSeconds: 0.5, jobs: 1, slotsInUse: 2, pid: 99)],
            jobs: [.init(id: 1, name: "train", phase: "running", ranks: 2, path: "in-network", operations: 3,
                         treeEdges: [["h0", "leaf0"], ["leaf0", "spine0"]], silentRanks: [1: 2.5],
                         inFlight: [.init(opSeq: 3, collective: .allreduce, seconds: 1.25, ranksIn: [0],
                                          ranksNotIn: [1])],
                         diagnosis: ["rank 1 waits for leaf0"])],
            links: []))),
        ("job-ended", .jobEnded(JobEnded(job: 1))),
        ("shutdown", .shutdown(Shutdown(reason: "done"))),
        ("heartbeat", .heartbeat(Heartbeat(sequence: 12))),
    ]

    static func header(count: UInt32, dtype: DType, op: ReduceOp, flags: ChunkHeader.Flags = [],
                       collective: Collective = .allreduce) -> ChunkHeader {
        ChunkHeader(job: 7, origin: 3, opSeq: 0x1_0000_0002, totalCount: 1000, elementOffset: 995 - UInt64(count),
                    chunkIndex: 9, chunkCount: 10, elementCount: count, collective: collective, dtype: dtype, op: op,
                    flags: flags, root: 1, payloadLength: flags.contains(.empty) ? 0 : count * UInt32(dtype.size))
    }

    static func chunk(_ header: ChunkHeader) -> Frame {
        .chunk(header, payload: (0..<Int(header.payloadLength)).map { UInt8(truncatingIfNeeded: $0 &* 37) })
    }

    /// Streams as a connection carries them: single frames, and a handshake followed by data.
    static let frameStreams: [(name: String, frames: [Frame])] = [
        ("chunk-f32-sum", [chunk(header(count: 5, dtype: .f32, op: .sum))]),
        ("chunk-f16-result", [chunk(header(count: 3, dtype: .f16, op: .max, flags: [.result]))]),
        ("chunk-empty-broadcast", [chunk(header(count: 4, dtype: .i64, op: .sum, flags: [.empty],
                                                collective: .broadcast))]),
        ("control-hello", [.control(controlMessages[1].message)]),
        ("handshake-then-data", [.control(controlMessages[0].message), .control(controlMessages[1].message),
                                 .control(controlMessages[2].message),
                                 chunk(header(count: 2, dtype: .bf16, op: .min)),
                                 chunk(header(count: 6, dtype: .u8, op: .bxor, flags: [.result])),
                                 .control(.heartbeat(Heartbeat(sequence: 1)))]),
    ]

    /// File name → bytes, per target directory under `Fuzz/corpus`.
    static var files: [String: [String: [UInt8]]] {
        [
            "control-message": Dictionary(uniqueKeysWithValues: controlMessages.map {
                // The operation report's body is binary (`OperationReportCodec`), the rest JSON.
                let body = WireFormat.encodeControl($0.message)
                return ($0.name + (body.first == OperationReportCodec.tag ? ".bin" : ".json"), body)
            }),
            "frame-parser": Dictionary(uniqueKeysWithValues: frameStreams.map { stream in
                var bytes: [UInt8] = []
                for frame in stream.frames { WireFormat.encode(frame, into: &bytes) }
                return (stream.name + ".bin", bytes)
            }),
        ]
    }
}
