import ArgumentParser
import Authentication
import Foundation
import Logging
import Telemetry
import TransportTCP
import TributaryCore
import Worker

/// The workload a `tributary worker` runs; `launch` passes the same options to every rank.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Element counts to run, comma separated (0, odd counts and chunk ± 1 are all fine).")
    var counts: String = "0,1,7,1000,65535,65536,65537,1048576,16777216"

    @Option(help: "Collectives to run for each count: allreduce, reduce, broadcast, barrier, reduce-scatter, all-gather (comma separated; for the last two the count is the whole vector, worldSize blocks).")
    var collectives: String = "allreduce"

    @Option(name: [.short, .customLong("dtype")], help: "Element type: f32 f64 f16 bf16 i32 i64 u32 u64 i8 u8.")
    var dtype: DType = .f32

    @Option(name: [.short, .customLong("op")], help: "Reduction: sum prod min max band bor bxor.")
    var op: ReduceOp = .sum

    @Option(name: [.short, .customLong("iters")], help: "Measured repetitions per count.")
    var iters: Int = 1

    @Option(name: [.short, .customLong("warmup")], help: "Unmeasured repetitions per count (not validated).")
    var warmup: Int = 0

    @Option(help: "Root rank for reduce and broadcast.")
    var root: Int = 0

    @Option(help: "Seed of the generated inputs (each operation derives its own).")
    var seed: UInt64 = 1

    @Flag(help: "Mix NaN payloads, ±0, ±inf and subnormals into the generated inputs.")
    var specials = false

    @Flag(help: "Do not validate results against the coordinator's host replay.")
    var noCheck = false

    @Flag(help: "Out-of-place (separate send and receive buffers) instead of in-place.")
    var outOfPlace = false

    @Flag(inversion: .prefixedNo,
          help: "Register the send and receive buffers with the data transport once, for all operations (over RDMA chunks then go without a copy).")
    var registerBuffers = true

    @Option(help: "Algorithms to run each size with: innetwork, ring (comma separated).")
    var algos: String = "innetwork"

    @Option(help: "Rank 0 writes `done/total <size> <algo>` here as it goes (for progress displays).")
    var progressFile: String?

    @Option(help: "Fault injection for tests: this rank calls a mismatched collective.")
    var mismatchRank: Int?

    @Option(help: "What the mismatched rank changes: count, dtype, op, collective.")
    var mismatchKind: String = "count"

    func parsedCounts() throws -> [Int] {
        try counts.split(separator: ",").map {
            guard let n = Int($0.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw ValidationError("--counts: '\($0)' is not a non-negative element count")
            }
            return n
        }
    }

    func parsedAlgorithms() throws -> [Algorithm] {
        try algos.split(separator: ",").map {
            guard let a = Algorithm(rawValue: String($0).lowercased()) else {
                throw ValidationError("--algos: unknown algorithm '\($0)' (innetwork, ring)")
            }
            return a
        }
    }

    func parsedCollectives() throws -> [Collective] {
        try collectives.split(separator: ",").map {
            guard let c = Collective(argument: String($0)) else {
                throw ValidationError("--collectives: unknown collective '\($0)'")
            }
            return c
        }
    }

    /// The arguments that reproduce these options on a child's command line.
    var arguments: [String] {
        var a = ["--counts", counts, "--collectives", collectives, "--dtype", dtype.name, "--op", op.name,
                 "--iters", "\(iters)", "--warmup", "\(warmup)", "--root", "\(root)", "--seed", "\(seed)"]
        if specials { a.append("--specials") }
        if noCheck { a.append("--no-check") }
        if outOfPlace { a.append("--out-of-place") }
        if !registerBuffers { a.append("--no-register-buffers") }
        if let mismatchRank { a += ["--mismatch-rank", "\(mismatchRank)", "--mismatch-kind", mismatchKind] }
        a += ["--algos", algos]
        if let progressFile { a += ["--progress-file", progressFile] }
        return a
    }

    func validate() throws {
        _ = try parsedCounts()
        _ = try parsedCollectives()
        _ = try parsedAlgorithms()
        guard op.supports(dtype) else { throw ValidationError("op \(op) is not defined for dtype \(dtype)") }
        guard iters > 0, warmup >= 0 else { throw ValidationError("--iters must be > 0 and --warmup ≥ 0") }
        guard ["count", "dtype", "op", "collective"].contains(mismatchKind) else {
            throw ValidationError("--mismatch-kind must be count, dtype, op or collective")
        }
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one rank: join a job and drive collectives through the fabric (for tests and benchmarks).")

    @OptionGroup var access: ClientOptions

    @Option(help: "This process's rank (default: from the launcher's environment).")
    var rank: Int?

    @Option(help: "Ranks in the job (default: from the launcher's environment).")
    var size: Int?

    @Option(help: "Slots the job asks for at each switch (default: the fabric's per-job quota).")
    var slots: Int?

    @Option(name: .customLong("job"), help: "Job name; ranks naming the same job form one communicator (default: $TRIBUTARY_JOB, the launcher's job id, else `default`).")
    var jobName: String?

    /// The job's name: given, or one every rank of this launch derives alike.
    var job: String { jobName ?? LaunchEnvironment.jobName() ?? "default" }

    @Option(help: "Topology host this rank runs on (default: host number <rank>).")
    var host: String?

    @Option(help: "Seconds without progress before an operation fails naming what is missing.")
    var timeout: Int = 60

    @Option(help: "Where this rank listens for its host-ring predecessor (default: $TRIBUTARY_DATA_ADDRESS inside a fabric, else 127.0.0.1; port 0 picks one).")
    var ringListen: Endpoint?

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var common: CommonOptions
    @OptionGroup var fabric: FabricOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var traceFile: TraceFileOptions
    @OptionGroup var faultOptions: FaultOptions

    func run() async throws {
        let placed: (rank: Int, size: Int)
        do {
            placed = try LaunchEnvironment.rankAndSize(rank: self.rank, size: self.size)
        } catch {
            throw ValidationError(error.description)
        }
        let (rank, size) = placed
        // Inside a fabric (`fabric exec`), the host and its data address come from the environment.
        let environment = ProcessInfo.processInfo.environment
        let host = self.host ?? environment[FabricExec.nodeVariable]
        let ringListen = self.ringListen
            ?? Endpoint(host: environment[FabricExec.dataAddressVariable] ?? "127.0.0.1", port: 0)
        try MachineCapacity.checkWorker(rank: rank, maxCount: try workload.parsedCounts().max() ?? 0)
        if let slots, slots < 1 { throw ValidationError("--slots must be at least 1") }
        let (coordinator, clientKey) = try access.resolve()
        guard let jobSecret = ProcessInfo.processInfo.environment[JobSecret.environmentVariable], !jobSecret.isEmpty else {
            throw ValidationError("set \(JobSecret.environmentVariable) to a secret every rank of job \(job) shares "
                                  + "(launch and mpirun set it; e.g. `export \(JobSecret.environmentVariable)=$(head -c 32 "
                                  + "/dev/urandom | od -An -tx1 | tr -d ' \\n')`)")
        }
        ParentWatch.startIfRequested()
        ProcessTuning.apply()
        let logger = common.makeLogger("tributary.worker.\(rank)")
        let trace = try traceFile.start(processName: "rank \(rank) (job \(job))", logger: logger)
        defer { trace.finish() }
        let (base, why) = try common.dataTransport(localName: "rank \(rank)", dataAddress: ringListen.host)
        logger.info("data transport: \(why)")
        let data = try fabric.dataTransport(base: base, logger: logger)
        // Over TCP the control connection shares the data connections' event loop: the report
        // that follows every operation is then written from the loop the operation runs on.
        let control = (base as? TCPTransport) ?? TCPTransport(localName: "rank \(rank)")
        let served = try await metrics.start("rank \(rank)")
        defer { if let served { Task { await served.server.close() } } }
        let communicator: Communicator
        do {
            var configuration = WorkerConfiguration(
                coordinator: coordinator, jobName: job, rank: rank, worldSize: size, host: host, clientKey: clientKey,
                jobSecret: jobSecret, operationTimeout: .seconds(timeout), joinTimeout: .seconds(timeout),
                ringListen: ringListen, transportReason: why)
            configuration.slotRequest = slots
            let plan = try faultOptions.plan()
            if host == nil, plan?.faults.contains(where: { $0.kind.touchesFrames }) == true {
                writeStderr("tributary worker rank \(rank): --faults: frame faults act on a host's link, and this rank "
                            + "does not know its host (give --host): they are not applied here")
            }
            configuration.faults = FaultInjection.hook(plan, forRank: rank, host: host)
            configuration.observer = DataPlaneObservers.combine(
                trace.observers
                    + (served.map { [DataPlaneMetrics(node: host ?? "rank \(rank)", factory: $0.metrics.factory)] } ?? []))
            communicator = try await Communicator.join(configuration, control: control, data: data, logger: logger)
        } catch {
            writeStderr("tributary worker rank \(rank): cannot join job \(job): \(error)")
            throw ExitCode(1)
        }
        var wrong = 0
        do {
            // On the data transport's I/O thread (TCP: its event loop), so that a send is written and
            // a result resumes the operation without a hop between threads (`FrameTransport.taskExecutor`).
            wrong = try await withTaskExecutorPreference(data.taskExecutor) {
                try await runWorkload(communicator, rank: rank, logger: logger)
            }
        } catch {
            writeStderr("tributary worker rank \(rank): \(error)")
            communicator.abort("\(error)")
            try? await Task.sleep(for: .milliseconds(200))
            throw ExitCode(1)
        }
        await communicator.finish()
        await control.shutdown()
        if wrong > 0 {
            writeStderr("tributary worker rank \(rank): \(wrong) operations were not bit-exact")
            throw ExitCode(2)
        }
    }

    /// Runs the workload; returns how many operations failed validation at this rank. Inputs are
    /// generated once per size (outside the timed region) and restored before every repetition,
    /// so in-place operations always start from the same, replayable input.
    private func runWorkload(_ comm: Communicator, rank: Int, logger: Logger) async throws -> Int {
        let counts = try workload.parsedCounts()
        let collectives = try workload.parsedCollectives()
        let algorithms = try workload.parsedAlgorithms()
        let maxCount = (counts.max() ?? 0) + 1
        let dtypeMax = DType.allCases.map(\.size).max()!
        let bytes = max(1, maxCount * dtypeMax + 64)
        let pristine = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let send = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let recv = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        // Registered once for every operation (nccl-tests registers its buffers the same way).
        let registered = workload.registerBuffers
            ? [UnsafeRawBufferPointer(start: send, count: bytes), UnsafeRawBufferPointer(start: recv, count: bytes)] : []
        for buffer in registered { try comm.register(buffer) }
        defer {
            for buffer in registered { comm.deregister(buffer) }
            pristine.deallocate()
            send.deallocate()
            recv.deallocate()
        }
        let total = algorithms.count * collectives.count * counts.count * (workload.warmup + workload.iters)
        var done = 0
        var wrong = 0
        var callIndex: UInt64 = 0
        var lastProgress = ContinuousClock.now
        for collective in collectives {
            for count in counts {
                for algorithm in algorithms {
                    callIndex += 1
                    var c = collective, dtype = workload.dtype, op = workload.op
                    var n = collective == .barrier ? 0 : count
                    if workload.mismatchRank == rank && callIndex == 1 {
                        switch workload.mismatchKind {
                        case "count": n += 1
                        case "dtype": dtype = dtype == .f64 ? .f32 : .f64
                        case "op": op = op == .max ? .min : .max
                        default: c = collective == .allreduce ? .reduce : .allreduce
                        }
                        if !op.supports(dtype) { op = .sum }
                        logger.warning("fault injection: rank \(rank) calls \(c) \(dtype) \(op) count \(n)")
                    }
                    let generator = InputGenerator(seed: workload.seed &+ UInt64(count) &* 0x9E37_79B9,
                                                   specials: workload.specials)
                    // Reduce-scatter and all-gather: the count is the whole vector (nccl-tests' size),
                    // worldSize blocks; an all-gather's input is this rank's block alone.
                    let block = c.isBlockwise ? n / comm.worldSize : 0
                    if c.isBlockwise { n = block * comm.worldSize }
                    let inputCount = c == .allGather ? block : n
                    // In place, a reduce-scatter's result and an all-gather's input are this rank's
                    // block of the one buffer.
                    let ownBlock = send + rank * block * dtype.size
                    // Out of place, the input survives every repetition; in place, it is restored.
                    generator.fill(dtype, rank: rank, offset: 0, count: inputCount,
                                   into: workload.outOfPlace ? send : pristine)
                    for iteration in 0..<(workload.warmup + workload.iters) {
                        let measured = iteration >= workload.warmup
                        if !workload.outOfPlace {
                            (c == .allGather ? ownBlock : send).copyMemory(from: pristine,
                                                                          byteCount: inputCount * dtype.size)
                        }
                        let validation: Validation = (workload.noCheck || !measured) ? .none : .generated(generator)
                        let result: OperationResult
                        switch c {
                        case .reduceScatter:
                            result = try await comm.reduceScatter(
                                dtype: dtype, op: op, blockCount: block, send: send,
                                recv: workload.outOfPlace ? recv : ownBlock, validation: validation,
                                algorithm: algorithm, measured: measured)
                        case .allGather:
                            result = try await comm.allGather(
                                dtype: dtype, blockCount: block, send: workload.outOfPlace ? send : ownBlock,
                                recv: workload.outOfPlace ? recv : send, validation: validation,
                                algorithm: algorithm, measured: measured)
                        default:
                            result = try await comm.run(c, dtype: dtype, op: op, count: n, root: workload.root,
                                                        send: send, recv: workload.outOfPlace ? recv : send,
                                                        validation: validation, algorithm: algorithm,
                                                        measured: measured)
                        }
                        if result.bitExact == false {
                            wrong += 1
                            writeStderr("rank \(rank) op #\(result.opSeq): NOT bit-exact: \(result.detail)")
                        }
                        done += 1
                        // A few times a second at most: a file written per operation would cost rank 0
                        // (and every rank waiting on it) more than a small allreduce takes.
                        if rank == 0, let file = workload.progressFile,
                           done == total || ContinuousClock.now - lastProgress > .milliseconds(200) {
                            lastProgress = .now
                            try? "\(done)/\(total) \(TopologyUnits.formatSize(n * dtype.size)) \(algorithm)\n"
                                .write(toFile: file, atomically: true, encoding: .utf8)
                        }
                        logger.debug("op done", metadata: [
                            "op": "\(result.opSeq)", "collective": "\(c)", "count": "\(n)",
                            "us": "\(Int(result.seconds * 1e6))",
                            "exact": "\(result.bitExact.map { "\($0)" } ?? "unchecked")"])
                    }
                }
            }
        }
        return wrong
    }
}
