import Authentication
import Foundation
import Logging
import Transport
import TributaryCore

/// Settings of one aggregator process.
public struct AggregatorConfiguration: Sendable {
    /// The switch this daemon emulates (a name in the topology).
    public var switchName: String
    public var coordinator: Endpoint
    /// Where children connect; port 0 picks a free port, reported to the coordinator.
    public var dataListen: Endpoint
    /// A slot waiting this long for some child is reported with the missing ranks.
    public var stallTimeout: Duration
    /// How long a new data connection may take to say hello.
    public var helloTimeout: Duration
    /// What this switch proves to the coordinator (`FabricCredentials.daemonKey`).
    public var daemonKey: AuthKey
    /// Data connections still to prove their job's key beyond this many are closed at once.
    public var maxUnauthenticated = 64
    /// Hears every chunk this switch receives, folds and sends (metrics, traces); nil: nobody.
    public var observer: (any DataPlaneObserver)?
    /// Injected faults (`--faults`): asked at every contribution (kill, hang) and before every chunk
    /// this switch sends (drop, delay, corrupt); nil: none, and the data path pays one nil check.
    public var faults: (any FaultHook)?

    public init(switchName: String, coordinator: Endpoint, dataListen: Endpoint, daemonKey: AuthKey,
                stallTimeout: Duration = .seconds(30), helloTimeout: Duration = .seconds(10)) {
        self.daemonKey = daemonKey
        self.switchName = switchName
        self.coordinator = coordinator
        self.dataListen = dataListen
        self.stallTimeout = stallTimeout
        self.helloTimeout = helloTimeout
    }
}

/// Failures that end an aggregator, each naming its peer.
public enum AggregatorError: Error, CustomStringConvertible {
    case coordinatorRejected(ErrorReport)
    case coordinatorLost(String)
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .coordinatorRejected(let r): return "coordinator rejected registration: \(r)"
        case .coordinatorLost(let why): return "coordinator lost: \(why)"
        case .unexpectedReply(let what): return "unexpected reply from coordinator: \(what)"
        }
    }
}

/// An emulated switch that owns aggregation nodes: registers with the coordinator, accepts its
/// children's data connections, reduces their chunks in child order and streams results.
/// Bad input from one peer costs that peer's connection or operation, never the daemon.
public actor AggregatorDaemon {
    public let configuration: AggregatorConfiguration
    private let control: any FrameTransport
    private let data: any FrameTransport
    private let logger: Logger
    private var coordinator: (any FrameConnection)?
    private var jobs: [UInt32: JobState] = [:]
    /// Starts the tasks that belong to `run()`: the accept loop, one reader per child and per
    /// parent connection, the stall check. All have ended when `run` returns.
    private let tasks = TaskSpawner()
    private var listener: (any FrameListener)?
    private var stopping = false
    /// Data connections that have not yet proved their job's key.
    private var unauthenticated = 0
    /// Payload bytes per tree link since start, keyed (child node, parent node): for heartbeats.
    private var linkBytes: [LinkEnds: (up: Int, down: Int)] = [:]

    struct LinkEnds: Hashable {
        var from: String
        var to: String
    }

    final class JobState {
        let engine: ReductionEngine
        /// The job's data key: children and the parent prove it on every data connection.
        let key: AuthKey
        var children: [(any FrameConnection)?]
        var parent: (any FrameConnection)?
        /// The topology node behind each child and the parent (link names for metrics and traces).
        let childNames: [String]
        let parentName: String
        /// Links a `delay` fault has held a frame on, by child index (-1: the parent): every later
        /// chunk frame on such a link goes through its line too, so none overtakes a delayed one.
        var delayLines: [Int: FrameDelayLine] = [:]
        var jobName: String { engine.assignment.jobName }
        init(engine: ReductionEngine, key: AuthKey, fanIn: Int) {
            self.engine = engine
            self.key = key
            self.children = Array(repeating: nil, count: fanIn)
            let a = engine.assignment
            if let nodes = a.childNodes, nodes.count == fanIn {
                childNames = nodes
            } else {
                childNames = a.children.map(\.description)
            }
            parentName = a.parentNode ?? "parent"
        }
    }

    public init(configuration: AggregatorConfiguration, control: any FrameTransport, data: any FrameTransport,
                logger: Logger) {
        self.configuration = configuration
        self.control = control
        self.data = data
        self.logger = logger
    }

    private var name: String { "aggregator \(configuration.switchName)" }

    /// Where children reach this daemon once `run` has started listening.
    public var dataEndpoint: Endpoint? { listener?.endpoint }

    /// Jobs installed here now (each with its slot pool and connections): zero once they have ended.
    public var jobCount: Int { jobs.count }

    /// Serves until the coordinator says shutdown (returns) or is lost (throws), or the task is
    /// cancelled. Every task it starts runs inside it: when it returns, nothing of it is left.
    public func run() async throws {
        let listener = try await data.listen(on: configuration.dataListen)
        self.listener = listener
        let coordinator: any FrameConnection
        let inbound: IteratorBox
        do {
            (coordinator, inbound) = try await Handshake.open(
                configuration.coordinator, over: control, hello: Hello(role: .aggregator, name: configuration.switchName),
                key: configuration.daemonKey, timeout: configuration.helloTimeout)
            self.coordinator = coordinator
        } catch {
            await listener.close()
            if let report = error as? ErrorReport { throw AggregatorError.coordinatorRejected(report) }
            throw AggregatorError.unexpectedReply("\(error)")
        }
        coordinator.send(.control(.registerAggregator(AggregatorRegistration(
            switchName: configuration.switchName, dataEndpoint: listener.endpoint, pid: getpid()))))
        logger.info("registered", metadata: ["switch": "\(configuration.switchName)",
                                            "data": "\(listener.endpoint)"])
        let tasks = self.tasks
        let beacon = LivenessBeacon(connection: coordinator)
        beacon.start()
        defer { beacon.stop() }
        let outcome: Result<Void, Error> = await withDiscardingTaskGroup { group in
            group.addTask { await tasks.run() }
            tasks.spawn { [self] in
                for await connection in listener.connections {
                    tasks.spawn { await self.serveChild(connection) }
                }
            }
            tasks.spawn { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await self.checkStalls()
                }
            }
            tasks.spawn { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: AggregatorStatus.interval)
                    await self.sendStatus()
                }
            }
            let outcome = await serveCoordinator(coordinator, inbound: inbound)
            await listener.close()
            shutdownAll()
            tasks.finish()
            group.cancelAll()
            return outcome
        }
        try outcome.get()
    }

    /// The control loop: assignments, job ends and errors from the coordinator, until it says
    /// shutdown (success) or is lost (failure).
    private func serveCoordinator(_ coordinator: any FrameConnection, inbound: IteratorBox) async -> Result<Void, Error> {
        do {
            while let frame = try await withTaskCancellationHandler(operation: { try await inbound.iterator.next() },
                                                                     onCancel: { coordinator.close() }) {
                guard case .control(let message) = frame else {
                    logger.warning("coordinator sent a data chunk; ignored")
                    continue
                }
                if case .shutdown(let s) = message {
                    logger.info("shutdown requested", metadata: ["reason": "\(s.reason)"])
                    return .success(())
                }
                await handleControl(message)
            }
        } catch {
            if Task.isCancelled || stopping { return .success(()) }
            return .failure(AggregatorError.coordinatorLost("\(error)"))
        }
        if Task.isCancelled || stopping { return .success(()) }
        return .failure(AggregatorError.coordinatorLost("connection closed by \(configuration.coordinator)"))
    }

    /// Stops serving (SIGTERM): closes every connection; `run` returns.
    public func stop() {
        stopping = true
        coordinator?.close()
    }

    private func shutdownAll() {
        for job in jobs.values {
            job.parent?.close()
            for child in job.children { child?.close() }
        }
        coordinator?.close()
    }

    private func handleControl(_ message: ControlMessage) async {
        switch message {
        case .assignAggregator(let assignment):
            await install(assignment)
        case .error(let report):
            logger.error("coordinator reports: \(report)")
            if let job = report.job, let op = report.opSeq { jobs[job]?.engine.abandon(opSeq: op) }
        case .heartbeat(let beat):
            coordinator?.send(.control(.heartbeat(beat)))
        case .jobEnded(let ended):
            endJob(ended.job)
        default:
            logger.warning("unexpected control message from coordinator: \(message)")
        }
    }

    /// A job is over: its slots, its connections and its key go, so nothing it held outlives it.
    private func endJob(_ job: UInt32) {
        guard let state = jobs.removeValue(forKey: job) else { return }
        configuration.observer?.observe(.jobEnded(job: job))
        for line in state.delayLines.values { line.cancel() }
        state.parent?.close()
        for child in state.children { child?.close() }
        logger.info("job ended", metadata: ["job": "\(job)", "jobs left": "\(jobs.count)"])
    }

    private func install(_ a: AggregatorAssignment) async {
        guard a.switchName == configuration.switchName, !a.children.isEmpty, a.slots > 0, a.slotBytes > 0,
              a.streaming.window <= a.slots, a.streaming.chunkBytes <= a.slotBytes, jobs[a.job] == nil,
              let key = try? AuthKey(hex: a.jobKey) else {
            report(ErrorReport(kind: .configuration, job: a.job, reporter: name,
                               message: "assignment does not fit this switch: \(a)"))
            return
        }
        let state = JobState(engine: ReductionEngine(assignment: a), key: key, fanIn: a.children.count)
        jobs[a.job] = state
        configuration.observer?.observe(.jobInstalled(job: a.job, name: a.jobName, slots: a.slots,
                                                      slotBytes: a.slotBytes))
        if let parentEndpoint = a.parent, let index = a.childIndexAtParent {
            do {
                let (parent, box) = try await Handshake.open(
                    parentEndpoint, over: data,
                    hello: Hello(role: .aggregator, name: configuration.switchName, job: a.job, childIndex: index),
                    key: key, timeout: configuration.helloTimeout)
                state.parent = parent
                let job = a.job
                let installation = ObjectIdentifier(state)
                tasks.spawn { [self] in
                    do {
                        while let frame = try await box.iterator.next() {
                            await self.parentFrame(job: job, installation: installation, frame)
                        }
                        await self.peerGone(job: job, installation: installation, child: nil,
                                            reason: "parent closed the connection")
                    } catch {
                        await self.peerGone(job: job, installation: installation, child: nil, reason: "\(error)")
                    }
                }
            } catch {
                report(ErrorReport(kind: .peerLost, job: a.job, reporter: name,
                                   message: "cannot join parent at \(parentEndpoint): \(error)"))
                return
            }
        }
        logger.info("job installed", metadata: [
            "job": "\(a.job)", "children": "\(a.children.map(\.description))",
            "parent": "\(a.parent.map { "\($0)" } ?? "root")", "slots": "\(a.slots)×\(a.slotBytes)",
        ])
        coordinator?.send(.control(.assignmentAck(AssignmentAck(job: a.job, switchName: a.switchName, epoch: a.epoch))))
    }

    private func serveChild(_ connection: any FrameConnection) async {
        guard unauthenticated < configuration.maxUnauthenticated else {
            let limit = configuration.maxUnauthenticated
            logger.warning("closing data connection from \(connection.peer): \(unauthenticated) not yet authenticated (limit \(limit))")
            connection.close()
            return
        }
        unauthenticated += 1
        var inbound = connection.inbound.makeAsyncIterator()
        let hello: Hello
        do {
            hello = try await Handshake.accept(connection, inbound: &inbound, as: name,
                                               timeout: configuration.helloTimeout) { hello throws(Handshake.Refusal) in
                guard let job = hello.job, hello.childIndex != nil else {
                    throw Handshake.Refusal(.protocolViolation, "data hello from \(hello.name) names no job/child index")
                }
                guard let state = jobs[job] else {
                    throw Handshake.Refusal(.unknownJob, "unknown job \(job) (from \(hello.name))")
                }
                return state.key
            }
            unauthenticated -= 1
        } catch {
            unauthenticated -= 1
            logger.warning("refused data connection from \(connection.peer): \(error)")
            return
        }
        let job = hello.job!
        let index = hello.childIndex!
        guard let state = jobs[job] else {
            await reject(connection, .unknownJob, "job \(job) ended while \(hello.name) connected")
            return
        }
        guard index >= 0, index < state.children.count, state.children[index] == nil else {
            await reject(connection, .protocolViolation, "child index \(index) from \(hello.name) is invalid or taken")
            return
        }
        state.children[index] = connection
        logger.debug("child connected", metadata: ["job": "\(job)", "child": "\(index)", "who": "\(hello.name)"])
        do {
            while let frame = try await inbound.next(isolation: #isolation) {
                // The job may have been installed again since (a recovery, with a new tree): this
                // connection belongs to the old installation, and nothing it sends counts.
                guard jobs[job] === state else { break }
                switch frame {
                case .chunk(let header, let payload):
                    // A kill or hang set for this chunk strikes before it is folded (the process ends or stops here).
                    configuration.faults?.contributionArrived(at: configuration.switchName, job: state.jobName,
                                                              opSeq: header.opSeq, chunk: header.chunkIndex)
                    linkBytes[LinkEnds(from: state.childNames[index], to: configuration.switchName), default: (0, 0)]
                        .up += payload.count
                    let actions = state.engine.contribution(from: index, header: header, payload: payload,
                                                            now: DispatchTime.now().uptimeNanoseconds)
                    if let observer = configuration.observer {
                        observe(observer, arrivalOf: header, bytes: payload.count, from: state.childNames[index],
                                job: job, state: state)
                    }
                    execute(job: job, actions)
                case .control(.error(let r)):
                    logger.error("child \(index) reports: \(r)")
                case .control(let other):
                    logger.warning("unexpected control message from child \(index): \(other)")
                }
            }
            peerGone(job: job, installation: ObjectIdentifier(state), child: index, reason: "closed the connection")
        } catch {
            peerGone(job: job, installation: ObjectIdentifier(state), child: index, reason: "\(error)")
        }
    }

    private func reject(_ connection: any FrameConnection, _ kind: ErrorReport.Kind, _ message: String) async {
        logger.warning("rejected data connection from \(connection.peer): \(message)")
        _ = await Handshake.refuse(connection, name, Handshake.Refusal(kind, message))
    }

    /// A frame from the parent of installation `installation` of `job` (a recovery installs a job
    /// again: frames of the earlier installation's connections are not heard).
    private func parentFrame(job: UInt32, installation: ObjectIdentifier, _ frame: Frame) {
        guard let state = jobs[job], ObjectIdentifier(state) == installation else { return }
        switch frame {
        case .chunk(let header, let payload):
            configuration.observer?.observe(.resultArrived(job: job, opSeq: header.opSeq, chunk: header.chunkIndex,
                                                           from: state.parentName, bytes: payload.count))
            linkBytes[LinkEnds(from: configuration.switchName, to: state.parentName), default: (0, 0)].down += payload.count
            execute(job: job, state.engine.result(header: header, payload: payload))
        case .control(.error(let r)):
            // Pass failures down so every worker below learns why its operation ended.
            for child in state.children { child?.send(.control(.error(r))) }
        case .control(let other):
            logger.warning("unexpected control message from parent: \(other)")
        }
    }

    private func execute(job: UInt32, _ actions: [EngineAction]) {
        guard let state = jobs[job] else { return }
        // A result fanned out to several children is encoded once.
        // (Array == is a storage-identity check when both share one buffer, as fanned-out results do.)
        var shared: [SharedFrame] = []
        for action in actions {
            switch action {
            case .sendUp(let frame):
                if case .chunk(let h, let payload) = frame {
                    configuration.observer?.observe(.chunkSent(job: job, opSeq: h.opSeq, chunk: h.chunkIndex,
                                                               to: state.parentName, direction: .up, bytes: payload.count))
                    linkBytes[LinkEnds(from: configuration.switchName, to: state.parentName), default: (0, 0)].up
                        += payload.count
                }
                if let parent = state.parent {
                    if configuration.faults == nil { parent.send(frame) } else { transmit(frame, on: parent, link: -1, state) }
                }
            case .sendDown(let child, let frame):
                if case .chunk(let h, let payload) = frame {
                    configuration.observer?.observe(.chunkSent(job: job, opSeq: h.opSeq, chunk: h.chunkIndex,
                                                               to: state.childNames[child], direction: .down,
                                                               bytes: payload.count))
                    linkBytes[LinkEnds(from: state.childNames[child], to: configuration.switchName), default: (0, 0)]
                        .down += payload.count
                }
                if let connection = state.children[child], configuration.faults != nil {
                    transmit(frame, on: connection, link: child, state)
                } else if let connection = state.children[child] {
                    let prepared: SharedFrame
                    if let existing = shared.first(where: { $0.frame == frame }) {
                        prepared = existing
                    } else {
                        prepared = SharedFrame(frame)
                        shared.append(prepared)
                    }
                    connection.send(prepared)
                } else {
                    report(ErrorReport(kind: .peerLost, job: job, ranks: state.engine.assignment.childRanks[child],
                                       reporter: name, message: "result for child \(child), which is not connected"))
                }
            case .fail(let report):
                logger.error("\(report)")
                self.report(report)
                for child in state.children { child?.send(.control(.error(report))) }
            }
        }
    }

    /// Sends a chunk frame on tree link `link` (a child index, -1: the parent) as the fault hook
    /// says: not at all, with a flipped payload byte (in a copy; a fanned-out result's other
    /// children get it intact), or later through the link's delay line — never blocking this actor.
    private func transmit(_ frame: Frame, on connection: any FrameConnection, link: Int, _ state: JobState) {
        guard let faults = configuration.faults, case .chunk(let header, let payload) = frame else {
            connection.send(frame)
            return
        }
        let peer = link < 0 ? state.parentName : state.childNames[link]
        let fault = faults.frameFault(from: configuration.switchName, to: peer, job: state.jobName,
                                      opSeq: header.opSeq, chunk: header.chunkIndex, payloadBytes: payload.count)
        if fault.drop {
            logger.notice("fault injection: dropped op #\(header.opSeq) chunk \(header.chunkIndex) to \(peer)")
            return
        }
        var out = frame
        if fault.corruption != nil {
            out = .chunk(header, payload: fault.corrupted(payload))
            logger.notice("fault injection: corrupted op #\(header.opSeq) chunk \(header.chunkIndex) to \(peer)")
        }
        if fault.delay > .zero || state.delayLines[link] != nil {
            let line = state.delayLines[link] ?? FrameDelayLine(connection)
            state.delayLines[link] = line
            line.send(out, after: fault.delay)
        } else {
            connection.send(out)
        }
    }

    /// A child's chunk arrived: what it brought, and the fold it completed, if it did.
    private func observe(_ observer: any DataPlaneObserver, arrivalOf header: ChunkHeader, bytes: Int, from child: String,
                         job: UInt32, state: JobState) {
        observer.observe(.chunkArrived(job: job, opSeq: header.opSeq, chunk: header.chunkIndex, from: child,
                                       bytes: bytes))
        if let fold = state.engine.lastFold {
            observer.observe(.chunkFolded(job: job, opSeq: fold.opSeq, chunk: fold.chunk,
                                          contributions: state.childNames.count, waited: fold.waited))
        }
        observer.observe(.slotsInUse(job: job, slots: state.engine.pool.inUse,
                                     slotBytes: state.engine.pool.inUse * state.engine.pool.slotBytes))
    }

    private func peerGone(job: UInt32, installation: ObjectIdentifier, child: Int?, reason: String) {
        guard let state = jobs[job], ObjectIdentifier(state) == installation, !stopping else { return }
        let who: String
        var ranks: [Int] = []
        if let child {
            state.children[child] = nil
            ranks = state.engine.assignment.childRanks[child]
            who = "child \(child) (\(state.engine.assignment.children[child]))"
        } else {
            state.parent = nil
            who = "parent"
        }
        logger.warning("\(who) of job \(job) gone: \(reason)")
        report(ErrorReport(kind: .peerLost, job: job, ranks: ranks, reporter: name, message: "\(who) lost: \(reason)"))
    }

    /// The heartbeat: alive, each job's slots and oldest waits, and the bytes each link carried.
    private func sendStatus() {
        let now = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(now &- t) / 1e9 }
        let statuses = jobs.keys.sorted().map { job -> AggregatorStatus.JobStatus in
            let state = jobs[job]!
            let engine = state.engine
            let waits = engine.waits(limit: AggregatorStatus.waitsShown).map { w in
                AggregatorStatus.SlotWait(opSeq: w.opSeq, chunk: w.chunk, missing: w.missing.map { state.childNames[$0] },
                                          missingRanks: w.ranks, seconds: seconds(since: w.since))
            }
            let up = engine.oldestAwaitingParent().map {
                AggregatorStatus.ChunkWait(opSeq: $0.opSeq, chunk: $0.chunk, parent: state.parentName,
                                           seconds: seconds(since: $0.since))
            }
            return AggregatorStatus.JobStatus(job: job, slotsInUse: engine.pool.inUse, slots: engine.pool.slots,
                                              chunksFolded: engine.chunksFolded, waits: waits, awaitingParent: up)
        }
        // Each link once: the switch above it reports it (its child's count of the same bytes is not sent).
        let links = linkBytes.filter { $0.key.to == configuration.switchName }.map { LinkLoad(from: $0.key.from, to: $0.key.to, bytesUp: $0.value.up, bytesDown: $0.value.down) }
            .sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        coordinator?.send(.control(.aggregatorStatus(AggregatorStatus(switchName: configuration.switchName,
                                                                      jobs: statuses, links: links))))
    }

    private func checkStalls() {
        let now = DispatchTime.now().uptimeNanoseconds
        let timeout = UInt64(configuration.stallTimeout.components.seconds) * 1_000_000_000
        for (job, state) in jobs {
            for stall in state.engine.parentStalls(now: now, timeout: timeout) {
                report(ErrorReport(kind: .timeout, job: job, opSeq: stall.opSeq, reporter: name,
                                   message: "op #\(stall.opSeq) chunk \(stall.chunk) has waited \(configuration.stallTimeout) "
                                       + "for its result from \(state.parentName)"))
            }
            for stall in state.engine.stalledSlots(now: now, timeout: timeout) {
                report(ErrorReport(kind: .timeout, job: job, opSeq: stall.opSeq, ranks: stall.missing, reporter: name,
                                   message: "op #\(stall.opSeq) chunk \(stall.chunk) has waited "
                                       + "\(configuration.stallTimeout) for ranks \(RankList.format(stall.missing))"))
            }
        }
    }

    private func report(_ report: ErrorReport) {
        coordinator?.send(.control(.error(report)))
    }
}
