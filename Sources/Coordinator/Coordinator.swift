import Authentication
import CoreMetrics
import Foundation
import Logging
import Transport
import TributaryCore

/// Settings of the coordinator (SHARP's Aggregation Manager role).
public struct CoordinatorConfiguration: Sendable {
    public var listen: Endpoint
    public var topology: Topology
    /// The fabric's keys: aggregators prove the daemon key, workers and tools the client key.
    public var credentials: FabricCredentials
    /// A connection that has not proved its key within this time is closed.
    public var helloTimeout: Duration = .seconds(5)
    /// Connections still to prove their key beyond this many are closed at once, so strangers
    /// cannot exhaust the coordinator's descriptors or memory.
    public var maxUnauthenticated = 64
    /// An authenticated tool (`jobs`, `status`) silent for this long is closed.
    public var clientIdleTimeout: Duration = .seconds(120)
    /// Where each job's JSON summary goes when it ends (`<directory>/<job name>.json`).
    public var summaryDirectory: String?
    /// What happens to a job the switches cannot hold now.
    public var admissionPolicy: AdmissionPolicy = .ring
    /// Live jobs the coordinator keeps at most (registering, queued and running together).
    public var maxJobs = 256
    /// Upper bound for chunk size; the tree's smallest slot caps it further.
    public var chunkBytes: Int
    /// Upper bound for the window (credits); the tree's smallest slot pool caps it further.
    public var window: Int
    /// In-network operations of at most this many bytes take the low-latency path (one frame per
    /// rank; `ReductionProtocol`); the job's chunk size caps it.
    public var lowLatencyBytes: Int = StreamingParameters.defaultLowLatencyBytes
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
    /// A switch silent this long while an operation of one of its jobs is in flight is taken as
    /// hung: the jobs' trees are rebuilt without it (its `LivenessBeacon` beats every 0.25 s).
    public var switchSilence: Duration = .seconds(1)
    /// Where the coordinator's metrics go (the CLI serves them in Prometheus format); nil: nowhere.
    public var metricsFactory: (any MetricsFactory)?

    public init(listen: Endpoint, topology: Topology, credentials: FabricCredentials, chunkBytes: Int = 256 << 10,
                window: Int = 16,
                exitWhenDone: Bool = false, assemblyTimeout: Duration = .seconds(60), summaryPath: String? = nil,
                aggregatorWait: Duration? = nil) {
        self.aggregatorWait = aggregatorWait
        self.listen = listen
        self.topology = topology
        self.credentials = credentials
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
    let logger: Logger
    let treeBuilder: TreeBuilder
    private var listener: (any FrameListener)?
    var peers: [Int: Peer] = [:]
    private var nextPeer = 0
    var aggregators: [String: AggregatorEntry] = [:]
    var jobs = JobTable()
    /// Slots, jobs and trees each switch has given out (SHARP's resource model).
    var resources: FabricResources
    /// Jobs waiting for resources, in arrival order (policy `queue`).
    private var queue = AdmissionQueue()
    /// The last summaries (what `run` returns); older ones are only on disk.
    private var finished: [JobSummary] = []
    private static let finishedKept = 16
    private var done: CheckedContinuation<Void, Never>?
    private var exitRequested = false
    /// Starts the tasks that belong to `run()`: the accept loop, one reader per connection, the
    /// tick, and replays (which run off the actor, so a large replay never stalls other peers).
    private let tasks = TaskSpawner()
    /// Timeouts, checked on every tick (the one deadline mechanism).
    var deadlines = DeadlineQueue<TimedAction>()
    var replayCache: [ReplayKey: [UInt64]] = [:]
    let metrics: CoordinatorMetrics?
    /// Each aggregator's last heartbeat (`AggregatorStatus`), by switch.
    var switchStatus: [String: AggregatorStatus] = [:]

    /// What a deadline does when it comes.
    enum TimedAction {
        /// Close a refused connection once its error frame had time to leave.
        case close(any FrameConnection)
        /// Close a failed job once its ranks had time to hear why.
        case closeJob(UInt32)
        /// Fail with the most specific stall report gathered.
        case failWithPendingTimeout(UInt32)
        /// Fail with a rank's loss unless a more specific cause came first.
        case failWithPendingLoss(UInt32)
        /// Fail with a switch's report of a lost peer unless the loss of a switch explained it
        /// first (the job's epoch moved on: its tree is being rebuilt).
        case failUnlessRecovered(UInt32, epoch: Int, ErrorReport)
    }

    /// How often deadlines, hello timeouts and waiting jobs are checked.
    static let tickInterval = Duration.milliseconds(100)

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
        /// nil until the peer has proved its key.
        var role: Role?
        /// The nonce its hello must answer.
        let challenge: Challenge
        /// Refused: its connection closes shortly, and nothing more it sends is heard.
        var rejected = false
        let since: ContinuousClock.Instant
        var lastHeard: ContinuousClock.Instant
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
        self.resources = FabricResources(topology: configuration.topology)
        self.metrics = configuration.metricsFactory.map { CoordinatorMetrics(factory: $0) }
    }

    /// The endpoint peers reach once `start` has returned.
    public var endpoint: Endpoint? { listener?.endpoint }

    /// What the coordinator holds now, for `tributary jobs` and for tests that check nothing of a
    /// finished job stays: live jobs, connected peers, jobs holding switch resources, operation
    /// records in flight, queued jobs and pending deadlines.
    public var holdings: (jobs: Int, peers: Int, admitted: Int, operations: Int, queued: Int, deadlines: Int) {
        (jobs.count, peers.count, resources.jobs.count, jobs.jobs.reduce(0) { $0 + $1.operations.count }, queue.count,
         deadlines.count)
    }

    /// Begins listening; returns the real endpoint (port 0 becomes a free port). Connections wait
    /// for `run` to serve them.
    public func start() async throws -> Endpoint {
        let listener = try await transport.listen(on: configuration.listen)
        self.listener = listener
        logger.info("listening", metadata: ["endpoint": "\(listener.endpoint)"])
        return listener.endpoint
    }

    /// Serves until asked to exit (`requestExit`, the job's end with `exitWhenDone`, or the task's
    /// cancellation); every task it started has ended when it returns. Returns the last summaries.
    public func run() async -> [JobSummary] {
        guard let listener else { return finished }
        let tasks = self.tasks
        await withDiscardingTaskGroup { group in
            group.addTask { await tasks.run() }
            tasks.spawn { [self] in
                for await connection in listener.connections { await self.accept(connection) }
            }
            tasks.spawn { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.tickInterval)
                    await self.tick()
                }
            }
            await waitForExit()
            await stop()
            tasks.finish()
            group.cancelAll()
        }
        return finished
    }

    private func waitForExit() async {
        guard !exitRequested else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                if exitRequested { c.resume() } else { done = c }
            }
        } onCancel: {
            Task { await self.requestExit() }
        }
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
        await listener?.close()
    }

    // MARK: Connections

    private func accept(_ connection: any FrameConnection) {
        let unauthenticated = peers.values.count { $0.role == nil }
        guard unauthenticated < configuration.maxUnauthenticated else {
            let limit = configuration.maxUnauthenticated
            logger.warning("closing connection from \(connection.peer): \(unauthenticated) not yet authenticated (limit \(limit))")
            connection.close()
            return
        }
        let id = nextPeer
        nextPeer += 1
        let now = ContinuousClock.now
        let challenge = Handshake.challenge()
        peers[id] = Peer(connection: connection, name: connection.peer, role: nil, challenge: challenge, since: now,
                         lastHeard: now)
        connection.send(.control(.challenge(challenge)))
        tasks.spawn { [self] in
            do {
                // Heard when read, not when the actor gets to it: a coordinator busy with one peer's
                // large message must not make the others look silent.
                for try await frame in connection.inbound { await self.received(frame, from: id, at: .now) }
                await self.lost(id, reason: "closed the connection")
            } catch {
                await self.lost(id, reason: "\(error)")
            }
        }
    }

    func send(_ peer: Int, _ message: ControlMessage) {
        peers[peer]?.connection.send(.control(message))
    }

    /// Sends `message` to the aggregator of every switch of `job`'s tree that has one.
    func sendToSwitches(of job: Job, _ message: ControlMessage) {
        for node in job.tree?.nodes.keys.sorted() ?? [] {
            if let agg = aggregators[node] { send(agg.peer, message) }
        }
    }

    private func received(_ frame: Frame, from id: Int, at heard: ContinuousClock.Instant) {
        guard var peer = peers[id], !peer.rejected else { return }
        guard case .control(let message) = frame else {
            reject(id, .protocolViolation, "data chunk on the control plane")
            return
        }
        peer.lastHeard = max(peer.lastHeard, heard)
        peers[id] = peer
        guard let role = peer.role else {
            authenticate(id, peer, message)
            return
        }
        // Each message is heard only from the role that may send it, and only about the job and
        // rank (or switch) that this very connection registered: nobody speaks for another.
        switch (role, message) {
        case (.aggregator, .registerAggregator(let r)): registerAggregator(r, peer: id)
        case (.worker, .registerWorker(let r)): registerWorker(r, peer: id)
        case (.aggregator, .assignmentAck(let a)): assignmentAcked(a, from: id)
        case (.worker, .workerReady(let r)): if let job = job(of: id, claiming: r.job, rank: r.rank) { workerReady(job, r) }
        case (.worker, .opReport(let r)): if let job = job(of: id, claiming: r.job, rank: r.rank) { opReport(job, r) }
        case (.worker, .chunkData(let d)):
            if let job = job(of: id, claiming: d.job, rank: d.rank), !recoveryChunkArrived(job, d) { chunkData(job, d) }
        case (.worker, .recoveryState(let r)):
            if let job = job(of: id, claiming: r.job, rank: r.rank) { recoveryStateReported(job, r) }
        case (.worker, .workerDone(let d)): if let job = job(of: id, claiming: d.job, rank: d.rank) { workerDone(job, d) }
        case (.worker, .error(let report)), (.aggregator, .error(let report)): errorReported(report, from: id)
        case (_, .listJobs): send(id, .jobList(jobList()))
        case (_, .statusRequest): send(id, .liveStatus(liveStatus()))
        case (.aggregator, .aggregatorStatus(let status)):
            if aggregators[status.switchName]?.peer == id { switchStatus[status.switchName] = status }
        case (.worker, .workerStatus(let status)):
            // A heartbeat may cross the job's end: heard only from the rank's own connection, else dropped.
            if let job = jobs[status.job], job.workers[status.rank]?.peer == id { job.workerStatus[status.rank] = status }
        case (_, .heartbeat): break
        default:
            reject(id, .protocolViolation, "\(role.rawValue) may not send \(message)")
        }
    }

    /// The handshake's second step: the hello must answer this connection's challenge with the key
    /// of the role it claims.
    private func authenticate(_ id: Int, _ peer: Peer, _ message: ControlMessage) {
        guard case .hello(let hello) = message else {
            reject(id, .protocolViolation, "first message must be hello, got \(message)")
            return
        }
        guard hello.protocolVersion == WireFormat.version else {
            reject(id, .versionMismatch,
                   "protocol version \(hello.protocolVersion) (coordinator speaks \(WireFormat.version))")
            return
        }
        guard let key = configuration.credentials.key(for: hello.role), hello.role != .coordinator,
              Handshake.verify(hello, answering: peer.challenge, key: key) else {
            let keyName = hello.role == .aggregator ? "daemon" : "client"
            logger.warning("refused \(hello.role.rawValue) \(hello.name) from \(peer.connection.peer): no proof of the \(keyName) key")
            reject(id, .unauthenticated, "\(hello.role.rawValue) \(hello.name) did not prove the fabric's key")
            return
        }
        var peer = peer
        peer.role = hello.role
        peer.name = "\(hello.role.rawValue) \(hello.name) (\(peer.connection.peer))"
        peers[id] = peer
        peer.connection.authenticated()
        send(id, .helloAck(Handshake.acknowledge(hello, challenge: peer.challenge, as: "coordinator", key: key)))
    }

    /// The job `claimed` if this connection registered `rank` in it; otherwise the message is
    /// refused as a protocol violation (a worker speaking for another rank or another job).
    private func job(of id: Int, claiming claimed: UInt32, rank: Int) -> Job? {
        guard let job = jobs[claimed], job.workers[rank]?.peer == id else {
            reject(id, .protocolViolation, "message about job \(claimed) rank \(rank), which this connection "
                   + "did not register")
            return nil
        }
        return job
    }

    func reject(_ id: Int, _ kind: ErrorReport.Kind, _ message: String) {
        guard let peer = peers[id], !peer.rejected else { return }
        peers[id]?.rejected = true
        logger.warning("rejecting \(peer.name): \(message)")
        peer.connection.send(.control(.error(ErrorReport(kind: kind, reporter: "coordinator", message: message))))
        deadlines.schedule(.close(peer.connection), after: .milliseconds(100))
    }

    private func lost(_ id: Int, reason: String) {
        guard let peer = peers.removeValue(forKey: id) else { return }
        if exitRequested { return }
        if let (name, entry) = aggregators.first(where: { $0.value.peer == id }) {
            aggregators.removeValue(forKey: name)
            switchStatus.removeValue(forKey: name)
            logger.warning("aggregator \(name) lost: \(reason)")
            switchLost(name, reason: "\(reason) (pid \(entry.pid))")
            return
        }
        for job in Array(jobs.jobs) {
            if let rank = job.workers.first(where: { $0.value.peer == id })?.key {
                if !job.done.contains(rank) && !job.isOver {
                    let report = ErrorReport(kind: .peerLost, job: job.id, ranks: [rank], reporter: "coordinator",
                                             message: "rank \(rank) (pid \(job.workers[rank]!.pid)) lost: \(reason)")
                    // A rank that leaves just after an error it was told of is a consequence, not the
                    // cause: the specific report (an aggregator's mismatch) gets a moment to arrive first.
                    job.pendingLoss = report
                    deadlines.schedule(.failWithPendingLoss(job.id), after: .milliseconds(300))
                }
                job.workers.removeValue(forKey: rank)
                if job.done.contains(rank) { doneRankLeft(job, rank: rank) }
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
        for job in Array(jobs.jobs) where job.phase == .waitingForAggregators { tryAssign(job) }
    }

    private func registerWorker(_ r: WorkerRegistration, peer: Int) {
        // Check what can be checked before a job exists, so a bad registration creates nothing.
        guard r.worldSize > 0, r.rank >= 0, r.rank < r.worldSize else {
            reject(peer, .configuration, "rank \(r.rank) is out of range for world size \(r.worldSize)")
            return
        }
        guard !r.jobName.isEmpty, r.jobName.utf8.count <= 200 else {
            reject(peer, .configuration, "a job name must have 1 to 200 bytes")
            return
        }
        guard jobs[peer: peer] == nil else {
            reject(peer, .protocolViolation, "this connection already registered a rank")
            return
        }
        let job: Job
        if let existing = jobs.named(r.jobName) {
            // Only ranks holding the job's secret may join it: a tenant cannot enter another's job.
            guard JobSecret.matches(r.jobProof, existing.proof) else {
                logger.warning("refused rank \(r.rank) for job \(r.jobName): wrong job secret")
                reject(peer, .badJobKey, "rank \(r.rank) does not hold job \(r.jobName)'s secret")
                return
            }
            job = existing
        } else {
            guard jobs.count < configuration.maxJobs else {
                reject(peer, .admission, "the fabric has \(jobs.count) jobs, its limit; job \(r.jobName) cannot start")
                return
            }
            job = jobs.create { id in
                Job(id: id, name: r.jobName, worldSize: r.worldSize, key: AuthKey.random().hex, proof: r.jobProof,
                    slotRequest: r.slotRequest, deadline: ContinuousClock.now + configuration.assemblyTimeout)
            }
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
        let number = r.hostNumber ?? r.rank
        guard let host = r.host ?? (number >= 0 && number < hostCount ? configuration.topology.hosts[number].name : nil)
        else {
            reject(peer, .configuration, "rank \(r.rank) names no host (host number \(number)) and topology "
                   + "\(configuration.topology.name) has only \(hostCount) hosts")
            return
        }
        job.workers[r.rank] = Job.WorkerEntry(peer: peer, host: host, pid: r.pid, ringEndpoint: r.ringEndpoint)
        peers[peer]?.name = "rank \(r.rank)"
        if job.workers.count == job.worldSize {
            job.phase = .waitingForAggregators
            tryAssign(job)
        }
    }

    /// Builds the tree; once every aggregator it needs is registered, admits the job (unless the
    /// queue has already `granted` it its resources) and assigns the root's level.
    func tryAssign(_ job: Job, granted: AdmissionDecision.Grant? = nil) {
        if job.tree == nil {
            let hosts = (0..<job.worldSize).map { job.workers[$0]!.host }
            do {
                // Switches lost while the job was being assigned only forward for it.
                job.tree = try treeBuilder.excluding(job.lostSwitches).build(hosts: hosts)
                if !job.lostSwitches.isEmpty {
                    job.treeNote = "built without \(job.lostSwitches.sorted().joined(separator: ", ")): lost while "
                        + "the job was assembled"
                }
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
                // Switches without an aggregator only forward: the tree is built around them (their
                // children attach to the next aggregating switch up), or the job runs on the host ring.
                let absent = Set(resources.switchNames.filter { aggregators[$0] == nil })
                let why = "no aggregator for \(absent.sorted().joined(separator: ", ")) after \(wait)"
                let hosts = (0..<job.worldSize).map { job.workers[$0]!.host }
                do {
                    job.tree = try treeBuilder.excluding(absent).build(hosts: hosts)
                    job.treeNote = "built without \(missing.joined(separator: ", ")): \(why)"
                    logger.warning("job \(job.name): tree \(job.treeNote!)")
                    tryAssign(job, granted: granted)
                } catch {
                    fallBack(job, reason: "\(why), and no tree without them (\(error))")
                }
            }
            return
        }
        // Admission: the job's quota at every switch of its tree, or the reason it cannot have it.
        let grant: AdmissionDecision.Grant
        switch granted.map(AdmissionDecision.granted)
            ?? resources.admit(job: job.id, switches: tree.aggregatorsTopDown, request: job.slotRequest) {
        case .granted(let g):
            grant = g
        case .refused(let refusal):
            admissionRefused(job, refusal)
            return
        }
        queue.remove(job: job.id)
        job.grant = grant.slotsPerSwitch
        var pathToRoot: ((String) -> (latency: Double, rate: Double)?)?
        if configuration.distanceAware, let profile = configuration.pathProfile {
            pathToRoot = { host in profile(host, tree.root) }
        }
        let plan = StreamingPlan(tree: tree, topology: configuration.topology, grant: grant.slotsPerSwitch,
                                 chunkBytes: configuration.chunkBytes, window: configuration.window,
                                 lowLatencyBytes: configuration.lowLatencyBytes, pathToRoot: pathToRoot)
        job.streaming = plan.parameters
        job.windowReason = plan.windowReason
        job.path = plan.path + (job.treeNote.map { " (\($0))" } ?? "")
        job.phase = .assigning(level: 0)
        logger.info("tree built", metadata: ["job": "\(job.id)", "root": "\(tree.root)",
                                             "switches": "\(tree.nodes.count)", "chunk": "\(plan.parameters.chunkBytes)",
                                             "window": "\(job.streaming!.window) (\(job.windowReason))",
                                             "low-latency": "≤ \(plan.parameters.lowLatencyBytes) B"])
        assignLevel(job, 0)
    }

    func assignLevel(_ job: Job, _ level: Int) {
        let tree = job.tree!
        let names = tree.aggregatorsTopDown.filter { tree.nodes[$0]!.level == level }
        job.pendingAcks = Set(names)
        for name in names {
            let node = tree.nodes[name]!
            let res = configuration.topology.switch(named: name)!.aggregation!
            var assignment = AggregatorAssignment(
                job: job.id, jobName: job.name, jobKey: job.key, switchName: name,
                parent: node.parent.map { aggregators[$0]!.dataEndpoint },
                childIndexAtParent: tree.childIndex(ofAggregator: name), children: node.children,
                childRanks: node.children.map { tree.ranks(under: $0) }, streaming: job.streaming!,
                slots: job.grant[name] ?? 1, slotBytes: res.slotBytes)
            assignment.childNodes = node.children.map { child in
                switch child {
                case .worker(let rank): return tree.hosts[rank]
                case .aggregator(let name): return name
                }
            }
            assignment.parentNode = node.parent
            assignment.epoch = job.epoch
            send(aggregators[name]!.peer, .assignAggregator(assignment))
        }
    }

    /// A job the switches cannot hold now: queued, run on the host ring, or refused, by policy.
    private func admissionRefused(_ job: Job, _ refusal: AdmissionRefusal) {
        if case .queued = job.phase {} else {
            let outcome: String
            switch configuration.admissionPolicy {
            case .queue where refusal.isPermanent, .ring: outcome = "ring"
            case .queue: outcome = "queued"
            case .refuse: outcome = "refused"
            }
            metrics?.admissionRefused(outcome: outcome)
        }
        switch configuration.admissionPolicy {
        case .queue where refusal.isPermanent:
            // Waiting cannot help, and a job that never fits would block the queue behind it.
            fallBack(job, reason: "admission: \(refusal)")
        case .queue:
            if queue.position(of: job.id) == nil {
                queue.enqueue(job: job.id, switches: job.tree?.aggregatorsTopDown ?? [], request: job.slotRequest)
                job.deadline = ContinuousClock.now + configuration.assemblyTimeout
                logger.info("job queued", metadata: ["job": "\(job.id)", "reason": "\(refusal)"])
            }
            job.phase = .queued(reason: "\(refusal)")
        case .ring:
            fallBack(job, reason: "admission: \(refusal)")
        case .refuse:
            fail(job, ErrorReport(kind: .admission, job: job.id, reporter: "coordinator",
                                  message: "job \(job.name) refused: \(refusal)"))
        }
    }

    /// Resources came free: queued jobs start in arrival order, none overtaking an earlier one.
    private func admitQueued() {
        for (id, grant) in queue.admitReady(into: &resources) {
            guard let job = jobs[id], !job.isOver else {
                resources.release(job: id)
                continue
            }
            tryAssign(job, granted: grant)
        }
    }

    private func assignmentAcked(_ ack: AssignmentAck, from id: Int) {
        guard let job = jobs[ack.job], aggregators[ack.switchName]?.peer == id, (ack.epoch ?? 0) == job.epoch,
              !job.isOver else {
            return
        }
        let level: Int
        if case .assigning(let assigning) = job.phase {
            level = assigning
        } else if let installing = job.recovery?.installing {
            level = installing
        } else {
            return
        }
        job.pendingAcks.remove(ack.switchName)
        guard job.pendingAcks.isEmpty else { return }
        let tree = job.tree!
        let maxLevel = tree.nodes.values.map(\.level).max() ?? 0
        if recoveryLevelAcknowledged(job, level: level, maxLevel: maxLevel) { return }
        if level < maxLevel {
            job.phase = .assigning(level: level + 1)
            assignLevel(job, level + 1)
            return
        }
        job.phase = .connecting
        for (rank, worker) in job.workers { send(worker.peer, .assignWorker(workerAssignment(job, rank: rank))) }
    }

    /// Rank `rank`'s place in the job's tree now (or on the host ring, with the reason).
    func workerAssignment(_ job: Job, rank: Int) -> WorkerAssignment {
        let ringNext = job.workers[(rank + 1) % job.worldSize]?.ringEndpoint
        guard job.fallbackReason == nil, let tree = job.tree, let leaf = tree.leaf(ofRank: rank),
              let endpoint = aggregators[leaf]?.dataEndpoint else {
            return WorkerAssignment(
                job: job.id, jobName: job.name, jobKey: job.key, rank: rank, worldSize: job.worldSize, leaf: "none",
                leafEndpoint: Endpoint(host: "0.0.0.0", port: 0), childIndex: 0, streaming: job.streaming!,
                path: job.path, ringNext: ringNext, fallbackReason: job.fallbackReason ?? "no leaf for rank \(rank)")
        }
        return WorkerAssignment(
            job: job.id, jobName: job.name, jobKey: job.key, rank: rank, worldSize: job.worldSize, leaf: leaf,
            leafEndpoint: endpoint, childIndex: tree.childIndex(ofRank: rank)!, streaming: job.streaming!,
            path: job.path, ringNext: ringNext)
    }

    /// Runs the job on the host ring among its workers, with the reason on every operation.
    private func fallBack(_ job: Job, reason: String) {
        job.streaming = StreamingParameters(chunkBytes: max(8, configuration.chunkBytes / 8 * 8), window: 1)
        useHostRing(job, reason: reason)
        job.phase = .connecting
        for (rank, worker) in job.workers { send(worker.peer, .assignWorker(workerAssignment(job, rank: rank))) }
    }

    /// The job's operations run on the host ring from now on, each saying why.
    func useHostRing(_ job: Job, reason: String) {
        logger.warning("job \(job.name) falls back to the host ring: \(reason)")
        job.fallbackReason = reason
        job.path = "host fallback: \(reason)"
        // The replay needs rank order only; a one-node "tree" carries the host list.
        let hosts = job.tree?.hosts ?? (0..<job.worldSize).map { job.workers[$0]!.host }
        let ring = AggregationTree.hostRingRoot
        job.tree = AggregationTree(root: ring, nodes: [
            ring: .init(name: ring, parent: nil, children: (0..<job.worldSize).map { .worker(rank: $0) },
                               level: 0),
        ], hosts: hosts)
    }

    private func workerReady(_ job: Job, _ r: WorkerReady) {
        guard job.phase == .connecting else { return }
        job.ready.insert(r.rank)
        if job.ready.count == job.worldSize {
            job.phase = .running
            logger.info("job running", metadata: ["job": "\(job.id)", "ranks": "\(job.worldSize)"])
            for worker in job.workers.values { send(worker.peer, .start(JobStart(job: job.id))) }
        }
    }

    private func tick() {
        let now = ContinuousClock.now
        for action in deadlines.due(now: now) { perform(action) }
        // Connections that never prove their key, and tools that fell silent, are closed.
        for (id, peer) in peers {
            if peer.role == nil, now - peer.since > configuration.helloTimeout {
                logger.warning("closing \(peer.connection.peer): no valid hello within \(configuration.helloTimeout)")
                peers.removeValue(forKey: id)
                peer.connection.close()
            } else if peer.role == .client, now - peer.lastHeard > configuration.clientIdleTimeout {
                logger.info("closing idle \(peer.name)")
                peers.removeValue(forKey: id)
                peer.connection.close()
            }
        }
        for job in Array(jobs.jobs) where job.phase == .waitingForAggregators && !job.isOver { tryAssign(job) }
        checkSilentSwitches(now: now)
        for job in Array(jobs.jobs) where job.recovery != nil && !job.isOver { checkRecoveryTimeout(job, now: now) }
        updateGauges()
        for job in Array(jobs.jobs) where !job.isOver && job.phase != .running && now > job.deadline {
            let message: String
            switch job.phase {
            case .queued(let reason):
                queue.remove(job: job.id)
                message = "queued for the fabric's resources and never admitted: \(reason)"
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
            fail(job, ErrorReport(kind: .timeout, job: job.id, reporter: "coordinator",
                                  message: "job \(job.name) not assembled after \(configuration.assemblyTimeout): \(message)"))
        }
    }

    // MARK: Operations and validation

    private func opReport(_ job: Job, _ r: OperationReport) {
        guard !job.isOver else { return }
        let record = job.operations[r.opSeq] ?? OpRecord(first: r)
        job.operations[r.opSeq] = record
        record.reports[r.rank] = r
        if record.reports.count == job.worldSize {
            record.reportedAt = .now
            validate(job, record)
        }
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
                fail(job, ErrorReport(kind: .collectiveMismatch, job: job.id, opSeq: first.opSeq, ranks: [r.rank],
                                           reporter: "coordinator",
                                           message: "rank \(r.rank) reported \(r.collective) \(r.dtype) \(r.op) "
                                               + "count \(r.count), rank \(first.rank) \(first.collective) "
                                               + "\(first.dtype) \(first.op) count \(first.count)"))
                return
            }
        }
        let validated = reports.values.allSatisfy { $0.input != .none }
        // An operation every rank finished while a recovery is under way ran wholly on the tree the
        // recovery leaves (the new one serves nobody until the resume).
        guard validated, let tree = job.recovery?.oldTree ?? job.tree(forOp: first.opSeq),
              let streaming = job.streaming else {
            record.complete = true
            recordMetrics(job, record, outcome: "unchecked")
            job.complete(first.opSeq)
            return
        }
        let inputs = (0..<job.worldSize).map { reports[$0]!.input }
        let dtype = first.dtype
        var replay = HostReplay(
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
        // Chunks an old tree computed before a recovery fold in its order.
        let chunkTrees = job.chunkTrees[first.opSeq] ?? [:]
        replay.chunkTrees = chunkTrees
        let built = replay
        record.replay = built
        // Repetitions of a size regenerate the same inputs: replay once, reuse the digests (only
        // on the job's current tree; the cache is emptied when the tree is rebuilt).
        var key: ReplayKey?
        if case .generated(let g) = inputs[0], inputs.allSatisfy({ $0 == inputs[0] }), chunkTrees.isEmpty,
           tree == job.tree {
            key = ReplayKey(generator: g, collective: first.collective, dtype: dtype, op: first.op, count: first.count,
                            root: first.root, algorithm: first.algorithm, job: job.id)
        }
        if let key, let cached = replayCache[key] {
            conclude(job, record, expected: cached)
            return
        }
        // The replay runs off the actor: a 64 MiB replay must not hold up other peers' messages.
        let (jobID, seq, replayKey) = (job.id, first.opSeq, key)
        tasks.spawn { [self] in
            let expected = built.expectedDigests()
            await self.replayed(jobID, seq, replayKey, expected)
        }
    }

    private func replayed(_ jobID: UInt32, _ seq: UInt64, _ key: ReplayKey?, _ expected: [UInt64]) {
        if let key {
            if replayCache.count >= 8 { replayCache.removeAll() }
            replayCache[key] = expected
        }
        guard let job = jobs[jobID], !job.isOver, let record = job.operations[seq] else { return }
        conclude(job, record, expected: expected)
    }

    /// Verdicts from the replay's digests: bit-exact ranks are told at once; a rank whose digests
    /// differ is asked for the differing chunks, to name the first differing element.
    private func conclude(_ job: Job, _ record: OpRecord, expected: [UInt64]) {
        let first = record.first
        // The result's pieces, once for every rank.
        let pieces = record.replay?.pieces ?? []
        for (rank, report) in record.reports {
            let held = record.replay?.pieces(pieces, heldBy: rank) ?? []
            if held.isEmpty {
                record.verdicts[rank] = Verdict(job: job.id, opSeq: first.opSeq, rank: rank, bitExact: true, detail: "")
                continue
            }
            if report.chunkDigests.count != held.count || held.last! >= expected.count {
                record.verdicts[rank] = Verdict(
                    job: job.id, opSeq: first.opSeq, rank: rank, bitExact: false,
                    detail: "rank \(rank) reported \(report.chunkDigests.count) chunk digests, expected \(held.count)")
                continue
            }
            var bad: [Int] = []
            for (i, digest) in zip(held, report.chunkDigests) where expected[i] != digest && bad.last != pieces[i].chunk {
                bad.append(pieces[i].chunk)
            }
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

    private func chunkData(_ job: Job, _ d: ChunkData) {
        // The first chunk a rank sends names the first difference (it sends one chunk per message).
        guard let record = job.operations[d.opSeq], let replay = record.replay, record.verdicts[d.rank] == nil else {
            return
        }
        let dtype = replay.dtype
        var detail = "rank \(d.rank): result digests differ from the host replay"
        let pieces = replay.pieces
        let held = replay.pieces(pieces, heldBy: d.rank).map { pieces[$0] }
        outer: for (k, bytes) in zip(d.chunks, d.bytes) {
            // The part of chunk k this rank holds (all of it but for a reduce-scatter's block edges).
            guard let piece = held.first(where: { $0.chunk == k }) else {
                continue
            }
            let whole = replay.expectedChunk(k)
            let skip = (piece.range.lowerBound - replay.range(ofChunk: k).lowerBound) * dtype.size
            let expected = Array(whole[skip..<(skip + piece.range.count * dtype.size)])
            let diff: Int? = expected.withUnsafeBytes { e in
                bytes.withUnsafeBytes { g in dtype.firstDifference(g, e) }
            }
            if let i = diff {
                let global = piece.range.lowerBound + i
                let got = bytes.withUnsafeBytes { dtype.format($0.baseAddress!, index: i) }
                let want = expected.withUnsafeBytes { dtype.format($0.baseAddress!, index: i) }
                detail = "rank \(d.rank) chunk \(k) element \(global - replay.range(ofChunk: k).lowerBound) "
                    + "(index \(global)): got \(got), expected \(want)"
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
        recordMetrics(job, record, outcome: record.verdicts.values.allSatisfy(\.bitExact) ? "bit-exact" : "wrong")
        job.complete(record.first.opSeq)
    }

    private func workerDone(_ job: Job, _ d: WorkerDone) {
        job.done.insert(d.rank)
        job.doneOps[d.rank] = UInt64(max(0, d.operations))
        finishIfOver(job)
    }

    /// An error from a worker or an aggregator: heard only about a job the sender takes part in.
    private func errorReported(_ report: ErrorReport, from id: Int) {
        let senderJob = jobs[peer: id]
        let job: Job?
        if let claimed = report.job {
            let fromItsAggregator = jobs[claimed]?.tree?.nodes.keys.contains { aggregators[$0]?.peer == id } ?? false
            job = (senderJob?.id == claimed || fromItsAggregator) ? jobs[claimed] : nil
        } else {
            job = senderJob
        }
        guard let job else {
            let sender = peers[id]?.name ?? "a peer"
            logger.warning("ignored an error report from \(sender) about a job it is not part of: \(report)")
            return
        }
        logger.error("\(report)")
        metrics?.error(kind: report.kind)
        guard !job.isOver else { return }
        // An aggregator seeing the same rank's connection close says less than the coordinator
        // does (which process, why): the coordinator's own report wins.
        if report.kind == .peerLost, let loss = job.pendingLoss, Set(report.ranks).isSubset(of: Set(loss.ranks)) {
            fail(job, loss)
            return
        }
        let fromAggregator = peers[id]?.role == .aggregator
        if fromAggregator && (report.kind == .peerLost || report.kind == .timeout) && job.recovery != nil {
            // The old tree's switches see the lost one go, or wait for it: the rebuild answers that.
            logger.info("job \(job.name) is recovering; noted: \(report)")
            return
        }
        if fromAggregator && report.kind == .peerLost {
            // A switch whose parent or child switch went away: the loss of that switch, noticed on
            // its own connection a moment later, starts a recovery; only if none starts does this fail the job.
            deadlines.schedule(.failUnlessRecovered(job.id, epoch: job.epoch, report), after: .milliseconds(500))
            return
        }
        guard report.kind == .timeout else {
            fail(job, report)
            return
        }
        // A stall shows at every level above the silent rank, and as a chunk whose result does not
        // come back below it (a report naming no rank); wait briefly for all reports — and for the
        // heartbeats to show who went silent — and name the most specific one.
        if job.pendingTimeout == nil {
            deadlines.schedule(.failWithPendingTimeout(job.id), after: .milliseconds(1500))
        }
        if Self.isMoreSpecific(report, than: job.pendingTimeout) {
            job.pendingTimeout = report
        }
    }

    /// Of two stall reports, the one naming ranks beats one naming none (a leaf waiting for its
    /// parent's result knows only that it waits), and fewer ranks beat more: the rank actually missing.
    static func isMoreSpecific(_ report: ErrorReport, than pending: ErrorReport?) -> Bool {
        guard let pending else { return true }
        if pending.ranks.isEmpty { return !report.ranks.isEmpty }
        return !report.ranks.isEmpty && report.ranks.count < pending.ranks.count
    }

    private func perform(_ action: TimedAction) {
        switch action {
        case .close(let connection):
            connection.close()
        case .closeJob(let id):
            closeJob(id)
        case .failWithPendingTimeout(let id):
            if let job = jobs[id], let report = job.pendingTimeout { fail(job, report) }
        case .failWithPendingLoss(let id):
            if let job = jobs[id], !job.isOver, let report = job.pendingLoss { fail(job, report) }
        case .failUnlessRecovered(let id, let epoch, let report):
            if let job = jobs[id], !job.isOver, job.epoch == epoch, job.recovery == nil {
                fail(job, job.pendingLoss ?? report)
            }
        }
    }

    /// Fails a job: records the first cause and tells every rank, so no one waits forever. A stall
    /// (a timeout anywhere) is first explained from the heartbeats: a switch or rank that went
    /// silent is named as the cause, whoever noticed the stall.
    func fail(_ job: Job, _ report: ErrorReport) {
        guard job.failure == nil, !job.closed else { return }
        let report = explained(job, report)
        job.failure = report
        logger.error("job \(job.name) failed: \(report)")
        for worker in job.workers.values { send(worker.peer, .error(report)) }
        sendToSwitches(of: job, .error(report))
        // Ranks that already failed may never say done; give them a moment, then close the job.
        deadlines.schedule(.closeJob(job.id), after: .seconds(2))
    }

    private func finishIfOver(_ job: Job) {
        if job.done.count == job.worldSize || (job.failure != nil && job.workers.isEmpty) { closeJob(job.id) }
    }

    /// Ends a job: its summary is written, its ranks told, its switches told to free what it held,
    /// its resources returned (and queued jobs admitted), and nothing of it stays here.
    private func closeJob(_ id: UInt32) {
        guard let job = jobs[id], !job.closed else { return }
        job.closed = true
        let summary = job.summary(tree: job.tree.map { TreeRenderer.text($0, topology: configuration.topology) } ?? "",
                                  topology: configuration.topology.name)
        finished.append(summary)
        if finished.count > Self.finishedKept { finished.removeFirst(finished.count - Self.finishedKept) }
        var paths: [String] = []
        if let path = configuration.summaryPath { paths.append(path) }
        if let directory = configuration.summaryDirectory { paths.append("\(directory)/\(Self.fileName(job.name)).json") }
        for path in paths {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(summary).write(to: URL(fileURLWithPath: path + ".tmp"))
                rename(path + ".tmp", path)
            } catch {
                logger.error("cannot write summary to \(path): \(error)")
            }
        }
        logger.info("job ended", metadata: ["job": "\(job.id)", "ok": "\(summary.succeeded)"])
        for worker in job.workers.values { send(worker.peer, .shutdown(Shutdown(reason: "job \(job.name) ended"))) }
        sendToSwitches(of: job, .jobEnded(JobEnded(job: job.id)))
        replayCache = replayCache.filter { $0.key.job != job.id }
        metrics?.jobEnded(job.name)
        resources.release(job: job.id)
        queue.remove(job: job.id)
        jobs.remove(job.id)
        if configuration.exitWhenDone { requestExit() }
        admitQueued()
    }

    /// A job name as a file name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
    public static func fileName(_ jobName: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        let mapped = String(jobName.map { allowed.contains($0) ? $0 : "_" })
        return mapped.hasPrefix(".") ? "_" + mapped.dropFirst() : mapped
    }

    /// The live jobs, for `tributary jobs`.
    private func jobList() -> JobList {
        let now = ContinuousClock.now
        return JobList(jobs: jobs.jobs.sorted { $0.created < $1.created }.map { $0.info(now: now) }, ended: jobs.ended,
                       switches: aggregators.keys.sorted(), topology: configuration.topology.name)
    }
}
