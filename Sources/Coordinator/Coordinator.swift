import Foundation
import Logging
import Transport
import TributaryCore

/// Settings of the coordinator (SHARP's Aggregation Manager role).
public struct CoordinatorConfiguration: Sendable {
    public var listen: Endpoint
    public var topology: Topology
    /// Upper bound for chunk size; the tree's smallest slot caps it further.
    public var chunkBytes: Int
    /// Upper bound for the window (credits); the tree's smallest slot pool caps it further.
    public var window: Int
    /// Serve one job, then shut every registered daemon down and return (used by `launch`).
    public var exitWhenDone: Bool
    /// A job whose ranks, aggregators or readiness do not arrive in this time fails, naming who is missing.
    public var assemblyTimeout: Duration
    /// Where to write the JSON `JobSummary` when a job ends.
    public var summaryPath: String?
    /// One-way latency (s) and bottleneck rate (bit/s) of the path between two topology nodes, when
    /// the links are emulated: distance-aware flow control sizes windows from it.
    public var pathProfile: (@Sendable (_ from: String, _ to: String) -> (latency: Double, rate: Double)?)?
    /// Size each job's window from the bandwidth-delay product of its longest path (true), or use
    /// `window` as given (false: distance-unaware, for comparison).
    public var distanceAware: Bool = true
    /// How long a job waits for the aggregators its tree needs before it falls back to the host
    /// ring (nil: wait until the assembly timeout, then fail).
    public var aggregatorWait: Duration?

    public init(listen: Endpoint, topology: Topology, chunkBytes: Int = 256 << 10, window: Int = 16,
                exitWhenDone: Bool = false, assemblyTimeout: Duration = .seconds(60), summaryPath: String? = nil,
                aggregatorWait: Duration? = nil) {
        self.aggregatorWait = aggregatorWait
        self.listen = listen
        self.topology = topology
        self.chunkBytes = chunkBytes
        self.window = window
        self.exitWhenDone = exitWhenDone
        self.assemblyTimeout = assemblyTimeout
        self.summaryPath = summaryPath
    }
}

/// Registers aggregators and workers, builds each job's tree from the topology, pushes
/// assignments top-down, runs the readiness barrier, and validates every reported result against
/// a host replay of the same tree-order reduction.
public actor Coordinator {
    public let configuration: CoordinatorConfiguration
    private let transport: any FrameTransport
    private let logger: Logger
    private let treeBuilder: TreeBuilder
    private var listener: (any FrameListener)?
    private var peers: [Int: Peer] = [:]
    private var nextPeer = 0
    private var aggregators: [String: AggregatorEntry] = [:]
    private var jobs: [String: Job] = [:]
    private var nextJobID: UInt32 = 1
    private var finished: [JobSummary] = []
    private var done: CheckedContinuation<Void, Never>?
    private var exitRequested = false
    private var tasks: [Task<Void, Never>] = []
    private var replayCache: [ReplayKey: [UInt64]] = [:]

    struct ReplayKey: Hashable {
        var generator: InputGenerator
        var collective: Collective
        var dtype: DType
        var op: ReduceOp
        var count: Int
        var root: Int
        var algorithm: Algorithm
        var job: UInt32
    }

    struct Peer {
        let connection: any FrameConnection
        var name: String
        var role: Role?
    }

    struct AggregatorEntry {
        let peer: Int
        let dataEndpoint: Endpoint
        let pid: Int32
    }

    public init(configuration: CoordinatorConfiguration, transport: any FrameTransport, logger: Logger) throws {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.treeBuilder = TreeBuilder(topology: configuration.topology)
    }

    /// The endpoint peers reach once `start` has returned.
    public var endpoint: Endpoint? { listener?.endpoint }

    /// Begins listening; returns the real endpoint (port 0 becomes a free port).
    public func start() async throws -> Endpoint {
        let listener = try await transport.listen(on: configuration.listen)
        self.listener = listener
        tasks.append(Task { [weak self] in
            for await connection in listener.connections {
                guard let self else { return }
                await self.accept(connection)
            }
        })
        tasks.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                await self?.tick()
            }
        })
        logger.info("listening", metadata: ["endpoint": "\(listener.endpoint)"])
        return listener.endpoint
    }

    /// Serves until the job ends (with `exitWhenDone`) or the task is cancelled; returns the summaries.
    public func run() async -> [JobSummary] {
        if !exitRequested {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    if exitRequested { c.resume() } else { done = c }
                }
            } onCancel: {
                Task { await self.requestExit() }
            }
        }
        await stop()
        return finished
    }

    public func requestExit() {
        exitRequested = true
        done?.resume()
        done = nil
    }

    private func stop() async {
        for peer in peers.values {
            peer.connection.send(.control(.shutdown(Shutdown(reason: "coordinator stopping"))))
        }
        try? await Task.sleep(for: .milliseconds(100))
        for peer in peers.values { peer.connection.close() }
        for task in tasks { task.cancel() }
        await listener?.close()
    }

    // MARK: Connections

    private func accept(_ connection: any FrameConnection) {
        let id = nextPeer
        nextPeer += 1
        peers[id] = Peer(connection: connection, name: connection.peer, role: nil)
        tasks.append(Task { [weak self] in
            do {
                for try await frame in connection.inbound {
                    guard let self else { return }
                    await self.received(frame, from: id)
                }
                await self?.lost(id, reason: "closed the connection")
            } catch {
                await self?.lost(id, reason: "\(error)")
            }
        })
    }

    private func send(_ peer: Int, _ message: ControlMessage) {
        peers[peer]?.connection.send(.control(message))
    }

    private func received(_ frame: Frame, from id: Int) {
        guard var peer = peers[id] else { return }
        guard case .control(let message) = frame else {
            reject(id, .protocolViolation, "data chunk on the control plane")
            return
        }
        if peer.role == nil {
            guard case .hello(let hello) = message else {
                reject(id, .protocolViolation, "first message must be hello, got \(message)")
                return
            }
            guard hello.protocolVersion == WireFormat.version else {
                reject(id, .versionMismatch,
                       "protocol version \(hello.protocolVersion) (coordinator speaks \(WireFormat.version))")
                return
            }
            peer.role = hello.role
            peer.name = "\(hello.role.rawValue) \(hello.name) (\(peer.connection.peer))"
            peers[id] = peer
            send(id, .helloAck(HelloAck(name: "coordinator")))
            return
        }
        switch message {
        case .registerAggregator(let r): registerAggregator(r, peer: id)
        case .registerWorker(let r): registerWorker(r, peer: id)
        case .assignmentAck(let a): assignmentAcked(a)
        case .workerReady(let r): workerReady(r)
        case .opReport(let r): opReport(r)
        case .chunkData(let d): chunkData(d)
        case .workerDone(let d): workerDone(d)
        case .error(let report): errorReported(report, from: id)
        case .heartbeat: break
        default:
            logger.warning("unexpected message from \(peer.name): \(message)")
        }
    }

    private func reject(_ id: Int, _ kind: ErrorReport.Kind, _ message: String) {
        guard let peer = peers[id] else { return }
        logger.warning("rejecting \(peer.name): \(message)")
        peer.connection.send(.control(.error(ErrorReport(kind: kind, reporter: "coordinator", message: message))))
        let connection = peer.connection
        Task {
            try? await Task.sleep(for: .milliseconds(100))
            connection.close()
        }
    }

    private func lost(_ id: Int, reason: String) {
        guard let peer = peers.removeValue(forKey: id) else { return }
        if exitRequested { return }
        if let (name, _) = aggregators.first(where: { $0.value.peer == id }) {
            aggregators.removeValue(forKey: name)
            logger.warning("aggregator \(name) lost: \(reason)")
            for job in jobs.values where job.tree?.nodes[name] != nil && !job.isOver {
                fail(job.name, ErrorReport(kind: .peerLost, job: job.id, reporter: "coordinator",
                                           message: "aggregator \(name) lost: \(reason)"))
            }
            return
        }
        for job in jobs.values {
            if let rank = job.workers.first(where: { $0.value.peer == id })?.key {
                if !job.done.contains(rank) && !job.isOver {
                    fail(job.name, ErrorReport(kind: .peerLost, job: job.id, ranks: [rank], reporter: "coordinator",
                                               message: "rank \(rank) (pid \(job.workers[rank]!.pid)) lost: \(reason)"))
                }
                job.workers.removeValue(forKey: rank)
                finishIfOver(job)
            }
        }
        logger.debug("peer \(peer.name) gone: \(reason)")
    }

    // MARK: Registration and assembly

    private func registerAggregator(_ r: AggregatorRegistration, peer: Int) {
        guard let sw = configuration.topology.switch(named: r.switchName) else {
            reject(peer, .configuration, "switch \(r.switchName) is not in topology \(configuration.topology.name)")
            return
        }
        guard sw.aggregation != nil else {
            reject(peer, .configuration, "switch \(r.switchName) cannot aggregate in topology \(configuration.topology.name)")
            return
        }
        guard aggregators[r.switchName] == nil else {
            reject(peer, .configuration, "switch \(r.switchName) is already served by another aggregator")
            return
        }
        aggregators[r.switchName] = AggregatorEntry(peer: peer, dataEndpoint: r.dataEndpoint, pid: r.pid)
        peers[peer]?.name = "aggregator \(r.switchName)"
        logger.info("aggregator registered", metadata: ["switch": "\(r.switchName)", "data": "\(r.dataEndpoint)"])
        for job in jobs.values where job.phase == .waitingForAggregators { tryAssign(job) }
    }

    private func registerWorker(_ r: WorkerRegistration, peer: Int) {
        // Check what can be checked before a job exists, so a bad registration creates nothing.
        guard r.worldSize > 0, r.rank >= 0, r.rank < r.worldSize else {
            reject(peer, .configuration, "rank \(r.rank) is out of range for world size \(r.worldSize)")
            return
        }
        let job: Job
        if let existing = jobs[r.jobName] {
            job = existing
        } else {
            job = Job(id: nextJobID, name: r.jobName, worldSize: r.worldSize, key: Self.makeKey(),
                      deadline: ContinuousClock.now + configuration.assemblyTimeout)
            nextJobID += 1
            jobs[r.jobName] = job
            logger.info("job created", metadata: ["job": "\(job.id)", "name": "\(r.jobName)", "ranks": "\(r.worldSize)"])
        }
        guard job.phase == .registering else {
            reject(peer, .configuration, "job \(r.jobName) is already assembled; rank \(r.rank) came too late")
            return
        }
        guard r.worldSize == job.worldSize else {
            reject(peer, .configuration, "rank \(r.rank) says world size \(r.worldSize), job \(r.jobName) has \(job.worldSize)")
            return
        }
        guard r.rank >= 0 && r.rank < job.worldSize, job.workers[r.rank] == nil else {
            reject(peer, .configuration, "rank \(r.rank) is out of range or already registered in job \(r.jobName)")
            return
        }
        let hostCount = configuration.topology.hosts.count
        guard let host = r.host ?? (r.rank < hostCount ? configuration.topology.hosts[r.rank].name : nil) else {
            reject(peer, .configuration, "rank \(r.rank) names no host and topology \(configuration.topology.name) "
                   + "has only \(hostCount) hosts")
            return
        }
        job.workers[r.rank] = Job.WorkerEntry(peer: peer, host: host, pid: r.pid, ringEndpoint: r.ringEndpoint)
        peers[peer]?.name = "rank \(r.rank)"
        if job.workers.count == job.worldSize {
            job.phase = .waitingForAggregators
            tryAssign(job)
        }
    }

    private static func makeKey() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(rng.next() as UInt32, radix: 16) }.joined(separator: "-")
    }

    /// Builds the tree; once every aggregator it needs is registered, assigns the root's level.
    private func tryAssign(_ job: Job) {
        if job.tree == nil {
            let hosts = (0..<job.worldSize).map { job.workers[$0]!.host }
            do {
                job.tree = try treeBuilder.build(hosts: hosts)
            } catch {
                // No tree: the job still runs, on the host ring, and every operation says why.
                fallBack(job, reason: "no aggregation tree for these hosts (\(error))")
                return
            }
        }
        let tree = job.tree!
        let missing = tree.aggregatorsTopDown.filter { aggregators[$0] == nil }
        guard missing.isEmpty else {
            if let wait = configuration.aggregatorWait, ContinuousClock.now > job.created + wait {
                fallBack(job, reason: "aggregators \(missing.joined(separator: ", ")) not registered after \(wait)")
            }
            return
        }
        // Streaming parameters: chunks fit the smallest slot, windows the smallest pool.
        var slots = Int.max
        var slotBytes = Int.max
        for name in tree.nodes.keys {
            let res = configuration.topology.switch(named: name)?.aggregation
            slots = min(slots, res?.slots ?? 1)
            slotBytes = min(slotBytes, res?.slotBytes ?? 8)
        }
        let chunk = max(8, min(configuration.chunkBytes, slotBytes) / 8 * 8)
        var window = configuration.window
        var windowWhy = "fixed"
        if configuration.distanceAware, let profile = configuration.pathProfile {
            // Credits must cover the round trip of the longest path at its bottleneck rate, with
            // headroom for jitter: window ≥ 1.5 × BDP / chunk (+1 so a chunk is always in flight).
            var bdp = 0.0
            for rank in 0..<job.worldSize {
                if let p = profile(job.workers[rank]!.host, tree.root) {
                    bdp = max(bdp, p.rate / 8 * 2 * p.latency)
                }
            }
            let needed = Int((1.5 * bdp / Double(chunk)).rounded(.up)) + 1
            window = max(window, needed)
            windowWhy = "distance-aware: longest-path BDP \(Int(bdp)) B"
        }
        job.streaming = StreamingParameters(chunkBytes: chunk, window: max(1, min(window, slots)))
        if window > slots { windowWhy += ", capped by \(slots) slots" }
        job.windowReason = windowWhy
        let levels = tree.aggregatorsTopDown.map { tree.nodes[$0]!.level }
        job.path = "in-network: tree \(tree.root) over \(tree.nodes.count) switches, \((levels.max() ?? 0) + 1) levels, "
            + "window \(job.streaming!.window)"
        job.phase = .assigning(level: 0)
        logger.info("tree built", metadata: ["job": "\(job.id)", "root": "\(tree.root)",
                                             "switches": "\(tree.nodes.count)", "chunk": "\(chunk)",
                                             "window": "\(job.streaming!.window) (\(job.windowReason))"])
        assignLevel(job, 0)
    }

    private func assignLevel(_ job: Job, _ level: Int) {
        let tree = job.tree!
        let names = tree.aggregatorsTopDown.filter { tree.nodes[$0]!.level == level }
        job.pendingAcks = Set(names)
        for name in names {
            let node = tree.nodes[name]!
            let res = configuration.topology.switch(named: name)!.aggregation!
            let assignment = AggregatorAssignment(
                job: job.id, jobName: job.name, jobKey: job.key, switchName: name,
                parent: node.parent.map { aggregators[$0]!.dataEndpoint },
                childIndexAtParent: tree.childIndex(ofAggregator: name), children: node.children,
                childRanks: node.children.map { tree.ranks(under: $0) }, streaming: job.streaming!,
                slots: res.slots, slotBytes: res.slotBytes)
            send(aggregators[name]!.peer, .assignAggregator(assignment))
        }
    }

    private func assignmentAcked(_ ack: AssignmentAck) {
        guard let job = jobs.values.first(where: { $0.id == ack.job }), case .assigning(let level) = job.phase else {
            return
        }
        job.pendingAcks.remove(ack.switchName)
        guard job.pendingAcks.isEmpty else { return }
        let tree = job.tree!
        let maxLevel = tree.nodes.values.map(\.level).max() ?? 0
        if level < maxLevel {
            job.phase = .assigning(level: level + 1)
            assignLevel(job, level + 1)
            return
        }
        job.phase = .connecting
        for (rank, worker) in job.workers {
            let leaf = tree.leaf(ofRank: rank)!
            send(worker.peer, .assignWorker(WorkerAssignment(
                job: job.id, jobName: job.name, jobKey: job.key, rank: rank, worldSize: job.worldSize, leaf: leaf,
                leafEndpoint: aggregators[leaf]!.dataEndpoint, childIndex: tree.childIndex(ofRank: rank)!,
                streaming: job.streaming!, path: job.path,
                ringNext: job.workers[(rank + 1) % job.worldSize]?.ringEndpoint)))
        }
    }

    /// Runs the job on the host ring among its workers, with the reason on every operation.
    private func fallBack(_ job: Job, reason: String) {
        logger.warning("job \(job.name) falls back to the host ring: \(reason)")
        job.fallbackReason = reason
        job.path = "host fallback: \(reason)"
        // The replay needs rank order only; a one-node "tree" carries the host list.
        let hosts = (0..<job.worldSize).map { job.workers[$0]!.host }
        job.tree = AggregationTree(root: "host-ring", nodes: [
            "host-ring": .init(name: "host-ring", parent: nil, children: (0..<job.worldSize).map { .worker(rank: $0) },
                               level: 0),
        ], hosts: hosts)
        job.streaming = StreamingParameters(chunkBytes: max(8, configuration.chunkBytes / 8 * 8), window: 1)
        job.phase = .connecting
        for (rank, worker) in job.workers {
            send(worker.peer, .assignWorker(WorkerAssignment(
                job: job.id, jobName: job.name, jobKey: job.key, rank: rank, worldSize: job.worldSize, leaf: "none",
                leafEndpoint: Endpoint(host: "0.0.0.0", port: 0), childIndex: 0, streaming: job.streaming!,
                path: job.path, ringNext: job.workers[(rank + 1) % job.worldSize]?.ringEndpoint,
                fallbackReason: reason)))
        }
    }

    private func workerReady(_ r: WorkerReady) {
        guard let job = jobs.values.first(where: { $0.id == r.job }), job.phase == .connecting else { return }
        job.ready.insert(r.rank)
        if job.ready.count == job.worldSize {
            job.phase = .running
            logger.info("job running", metadata: ["job": "\(job.id)", "ranks": "\(job.worldSize)"])
            for worker in job.workers.values { send(worker.peer, .start(JobStart(job: job.id))) }
        }
    }

    private func tick() {
        let now = ContinuousClock.now
        for job in jobs.values where job.phase == .waitingForAggregators && !job.isOver { tryAssign(job) }
        for job in jobs.values where !job.isOver && job.phase != .running && now > job.deadline {
            let message: String
            switch job.phase {
            case .registering:
                let missing = (0..<job.worldSize).filter { job.workers[$0] == nil }
                message = "ranks \(RankList.format(missing)) of \(job.worldSize) never registered"
            case .waitingForAggregators:
                let missing = job.tree?.aggregatorsTopDown.filter { aggregators[$0] == nil } ?? []
                message = "aggregators for switches \(missing.joined(separator: ", ")) never registered"
            case .assigning:
                message = "aggregators \(job.pendingAcks.sorted().joined(separator: ", ")) never acknowledged assignment"
            case .connecting:
                let missing = (0..<job.worldSize).filter { !job.ready.contains($0) }
                message = "ranks \(RankList.format(missing)) never connected to their aggregators"
            default:
                continue
            }
            fail(job.name, ErrorReport(kind: .timeout, job: job.id, reporter: "coordinator",
                                       message: "job \(job.name) not assembled after \(configuration.assemblyTimeout): \(message)"))
        }
    }

    // MARK: Operations and validation

    private func opReport(_ r: OperationReport) {
        guard let job = jobs.values.first(where: { $0.id == r.job }), !job.isOver else { return }
        let record = job.operations[r.opSeq] ?? OpRecord(first: r)
        job.operations[r.opSeq] = record
        record.reports[r.rank] = r
        if record.reports.count == job.worldSize { validate(job, record) }
    }

    private func validate(_ job: Job, _ record: OpRecord) {
        let first = record.first
        let reports = record.reports
        // Every rank must have called the same collective; aggregators catch most of this first.
        for r in reports.values {
            let same = r.collective == first.collective && r.dtype == first.dtype && r.count == first.count
                && r.algorithm == first.algorithm
                && (r.op == first.op || first.collective == .broadcast || first.collective == .barrier)
                && r.root == first.root
            if !same {
                fail(job.name, ErrorReport(kind: .collectiveMismatch, job: job.id, opSeq: first.opSeq, ranks: [r.rank],
                                           reporter: "coordinator",
                                           message: "rank \(r.rank) reported \(r.collective) \(r.dtype) \(r.op) "
                                               + "count \(r.count), rank \(first.rank) \(first.collective) "
                                               + "\(first.dtype) \(first.op) count \(first.count)"))
                return
            }
        }
        let validated = reports.values.allSatisfy { $0.input != .none }
        guard validated, let tree = job.tree, let streaming = job.streaming else {
            record.complete = true
            return
        }
        let inputs = (0..<job.worldSize).map { reports[$0]!.input }
        let dtype = first.dtype
        let replay = HostReplay(
            tree: tree, collective: first.collective, dtype: dtype, op: first.op, count: first.count, root: first.root,
            chunkElements: streaming.chunkElements(dtype), algorithm: first.algorithm) { rank, offset, count, into in
                switch inputs[rank] {
                case .generated(let g):
                    g.fill(dtype, rank: rank, offset: offset, count: count, into: into)
                case .shipped(let bytes):
                    let size = dtype.size
                    if bytes.count >= (offset + count) * size {
                        bytes.withUnsafeBytes { into.copyMemory(from: $0.baseAddress! + offset * size,
                                                                 byteCount: count * size) }
                    } else {
                        into.initializeMemory(as: UInt8.self, repeating: 0, count: count * size)
                    }
                case .none:
                    break
                }
            }
        record.replay = replay
        // Repetitions of a size regenerate the same inputs: replay once, reuse the digests.
        var key: ReplayKey?
        if case .generated(let g) = inputs[0], inputs.allSatisfy({ $0 == inputs[0] }) {
            key = ReplayKey(generator: g, collective: first.collective, dtype: dtype, op: first.op, count: first.count,
                            root: first.root, algorithm: first.algorithm, job: job.id)
        }
        let expected: [UInt64]
        if let key, let cached = replayCache[key] {
            expected = cached
        } else {
            expected = replay.expectedDigests()
            if let key {
                if replayCache.count >= 8 { replayCache.removeAll() }
                replayCache[key] = expected
            }
        }
        for (rank, report) in reports {
            let holds = first.count > 0 && (first.collective == .allreduce || first.collective == .broadcast
                                            || (first.collective == .reduce && rank == first.root))
            if !holds {
                record.verdicts[rank] = Verdict(job: job.id, opSeq: first.opSeq, rank: rank, bitExact: true, detail: "")
                continue
            }
            if report.chunkDigests.count != expected.count {
                record.verdicts[rank] = Verdict(
                    job: job.id, opSeq: first.opSeq, rank: rank, bitExact: false,
                    detail: "rank \(rank) reported \(report.chunkDigests.count) chunk digests, expected \(expected.count)")
                continue
            }
            let bad = expected.indices.filter { expected[$0] != report.chunkDigests[$0] }
            if bad.isEmpty {
                record.verdicts[rank] = Verdict(job: job.id, opSeq: first.opSeq, rank: rank, bitExact: true, detail: "")
            } else {
                // Ask for the first few differing chunks to name the first differing element.
                send(job.workers[rank]!.peer, .fetchChunks(FetchChunks(job: job.id, opSeq: first.opSeq,
                                                                       chunks: Array(bad.prefix(4)))))
            }
        }
        finishValidation(job, record)
    }

    private func chunkData(_ d: ChunkData) {
        guard let job = jobs.values.first(where: { $0.id == d.job }), let record = job.operations[d.opSeq],
              let replay = record.replay else { return }
        let dtype = replay.dtype
        var detail = "rank \(d.rank): result digests differ from the host replay"
        outer: for (k, bytes) in zip(d.chunks, d.bytes) {
            let expected = replay.expectedChunk(k)
            let diff: Int? = expected.withUnsafeBytes { e in
                bytes.withUnsafeBytes { g in dtype.firstDifference(g, e) }
            }
            if let i = diff {
                let global = replay.range(ofChunk: k).lowerBound + i
                let got = bytes.withUnsafeBytes { dtype.format($0.baseAddress!, index: i) }
                let want = expected.withUnsafeBytes { dtype.format($0.baseAddress!, index: i) }
                detail = "rank \(d.rank) chunk \(k) element \(i) (index \(global)): got \(got), expected \(want)"
                break outer
            } else if bytes.count != expected.count {
                detail = "rank \(d.rank) chunk \(k): \(bytes.count) bytes, expected \(expected.count)"
                break outer
            }
        }
        record.verdicts[d.rank] = Verdict(job: job.id, opSeq: d.opSeq, rank: d.rank, bitExact: false, detail: detail)
        logger.error("validation failed: \(detail)")
        finishValidation(job, record)
    }

    private func finishValidation(_ job: Job, _ record: OpRecord) {
        guard record.verdicts.count == job.worldSize, !record.complete else { return }
        record.complete = true
        for (rank, verdict) in record.verdicts { send(job.workers[rank]?.peer ?? -1, .verdict(verdict)) }
        record.replay = nil
    }

    private func workerDone(_ d: WorkerDone) {
        guard let job = jobs.values.first(where: { $0.id == d.job }) else { return }
        job.done.insert(d.rank)
        finishIfOver(job)
    }

    private func errorReported(_ report: ErrorReport, from id: Int) {
        logger.error("\(report)")
        let job = report.job.flatMap { id in jobs.values.first { $0.id == id } }
            ?? jobs.values.first { job in job.workers.values.contains { $0.peer == id } }
        guard let job, !job.isOver else { return }
        guard report.kind == .timeout, !report.ranks.isEmpty else {
            fail(job.name, report)
            return
        }
        // A stall shows at every level above the silent rank; wait briefly for all reports and
        // name the most specific one (the fewest ranks), which is the rank actually missing.
        if job.pendingTimeout == nil {
            let name = job.name
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(1500))
                await self?.failWithPendingTimeout(name)
            }
        }
        if job.pendingTimeout == nil || report.ranks.count < job.pendingTimeout!.ranks.count {
            job.pendingTimeout = report
        }
    }

    private func failWithPendingTimeout(_ name: String) {
        guard let job = jobs[name], let report = job.pendingTimeout else { return }
        fail(name, report)
    }

    /// Fails a job: records the first cause and tells every rank, so no one waits forever.
    private func fail(_ name: String, _ report: ErrorReport) {
        guard let job = jobs[name], job.failure == nil else { return }
        job.failure = report
        logger.error("job \(name) failed: \(report)")
        for worker in job.workers.values { send(worker.peer, .error(report)) }
        for node in job.tree?.nodes.keys.sorted() ?? [] {
            if let agg = aggregators[node] { send(agg.peer, .error(report)) }
        }
        // Ranks that already failed may never say done; give them a moment, then close the job.
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(2))
            await self?.closeJob(name)
        }
    }

    private func finishIfOver(_ job: Job) {
        if job.done.count == job.worldSize || (job.failure != nil && job.workers.isEmpty) { closeJob(job.name) }
    }

    private func closeJob(_ name: String) {
        guard let job = jobs[name], !job.closed else { return }
        job.closed = true
        let summary = job.summary(tree: job.tree.map { TreeRenderer.text($0, topology: configuration.topology) } ?? "")
        finished.append(summary)
        if let path = configuration.summaryPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(finished.count == 1 ? summary : summary).write(to: URL(fileURLWithPath: path))
            } catch {
                logger.error("cannot write summary to \(path): \(error)")
            }
        }
        logger.info("job ended", metadata: ["job": "\(job.id)", "ok": "\(summary.succeeded)"])
        for worker in job.workers.values { send(worker.peer, .shutdown(Shutdown(reason: "job \(name) ended"))) }
        jobs.removeValue(forKey: name)
        if configuration.exitWhenDone { requestExit() }
    }
}
