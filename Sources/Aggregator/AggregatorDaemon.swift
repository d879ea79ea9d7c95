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
///
/// The actor is the control plane (registration, assignments, job ends, heartbeats, stall checks,
/// handshakes); chunks never pass through it: `AggregatorDataPlane` folds and forwards them on
/// the thread that read them.
public actor AggregatorDaemon {
    public let configuration: AggregatorConfiguration
    private let control: any FrameTransport
    private let data: any FrameTransport
    private let logger: Logger
    private let dataPlane: AggregatorDataPlane
    private var coordinator: (any FrameConnection)?
    /// Starts the tasks that belong to `run()`: the accept loop, one reader per child and per
    /// parent connection, the stall check. All have ended when `run` returns.
    private let tasks = TaskSpawner()
    private var listener: (any FrameListener)?
    private var stopping = false
    /// Data connections that have not yet proved their job's key.
    private var unauthenticated = 0

    public init(configuration: AggregatorConfiguration, control: any FrameTransport, data: any FrameTransport,
                logger: Logger) {
        self.configuration = configuration
        self.control = control
        self.data = data
        self.logger = logger
        self.dataPlane = AggregatorDataPlane(configuration: configuration, logger: logger)
    }

    private var name: String { "aggregator \(configuration.switchName)" }

    /// Where children reach this daemon once `run` has started listening.
    public var dataEndpoint: Endpoint? { listener?.endpoint }

    /// Jobs installed here now (each with its slot pool and connections): zero once they have ended.
    public var jobCount: Int { dataPlane.jobCount }

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
            dataPlane.setCoordinator(coordinator)
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
        let dataPlane = self.dataPlane
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
            tasks.spawn {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    for report in dataPlane.stalls() { dataPlane.report(report) }
                }
            }
            tasks.spawn {
                while !Task.isCancelled {
                    try? await Task.sleep(for: AggregatorStatus.interval)
                    coordinator.send(.control(.aggregatorStatus(dataPlane.status())))
                }
            }
            let outcome = await serveCoordinator(coordinator, inbound: inbound)
            await listener.close()
            dataPlane.shutdown()
            coordinator.close()
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
        // The data path stops at once (a frame being folded finishes), not when the control loop ends.
        dataPlane.shutdown()
        coordinator?.close()
    }

    private func handleControl(_ message: ControlMessage) async {
        switch message {
        case .assignAggregator(let assignment):
            await install(assignment)
        case .error(let report):
            logger.error("coordinator reports: \(report)")
            if let job = report.job, let op = report.opSeq { dataPlane.abandon(job: job, opSeq: op) }
        case .heartbeat(let beat):
            coordinator?.send(.control(.heartbeat(beat)))
        case .jobEnded(let ended):
            dataPlane.endJob(ended.job)
        default:
            logger.warning("unexpected control message from coordinator: \(message)")
        }
    }

    private func install(_ a: AggregatorAssignment) async {
        guard a.switchName == configuration.switchName, !a.children.isEmpty, a.slots > 0, a.slotBytes > 0,
              a.streaming.window <= a.slots, a.streaming.chunkBytes <= a.slotBytes, dataPlane.key(ofJob: a.job) == nil,
              let key = try? AuthKey(hex: a.jobKey) else {
            dataPlane.report(ErrorReport(kind: .configuration, job: a.job, reporter: name,
                                         message: "assignment does not fit this switch: \(a)"))
            return
        }
        let state = AggregatorDataPlane.JobState(engine: ReductionEngine(assignment: a), key: key,
                                                 fanIn: a.children.count)
        guard dataPlane.install(state) else {
            dataPlane.report(ErrorReport(kind: .configuration, job: a.job, reporter: name,
                                         message: "job \(a.job) is already installed here"))
            return
        }
        if let parentEndpoint = a.parent, let index = a.childIndexAtParent {
            do {
                let (parent, box) = try await Handshake.open(
                    parentEndpoint, over: data,
                    hello: Hello(role: .aggregator, name: configuration.switchName, job: a.job, childIndex: index),
                    key: key, timeout: configuration.helloTimeout)
                guard dataPlane.setParent(parent, of: state) else {
                    parent.close()
                    return
                }
                let dataPlane = self.dataPlane
                tasks.spawn {
                    let end = await parent.serveFrames(after: box) { dataPlane.received($0, on: .parent, of: state) }
                    Self.ended(end, .parent, of: state, dataPlane, what: "parent closed the connection")
                }
            } catch {
                dataPlane.report(ErrorReport(kind: .peerLost, job: a.job, reporter: name,
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

    /// A child connects: the handshake here, then its frames go to the data plane until it ends.
    private func serveChild(_ connection: any FrameConnection) async {
        guard let (state, index, inbound) = await admitChild(connection) else { return }
        let dataPlane = self.dataPlane
        let end = await connection.serveFrames(after: inbound) { dataPlane.received($0, on: .child(index), of: state) }
        Self.ended(end, .child(index), of: state, dataPlane, what: "closed the connection")
    }

    /// How a data connection's end is told to the data plane (which ignores it when its
    /// installation is gone).
    private static func ended(_ end: FramesEnd, _ link: AggregatorDataPlane.Link, of state: AggregatorDataPlane.JobState,
                              _ dataPlane: AggregatorDataPlane, what closed: String) {
        switch end {
        case .closed: dataPlane.connectionEnded(link, of: state, reason: closed)
        case .failed(let error): dataPlane.connectionEnded(link, of: state, reason: "\(error)")
        case .stopped: break
        }
    }

    /// The handshake of a child's data connection: its job's key proved, its index seated.
    private func admitChild(_ connection: any FrameConnection)
        async -> (AggregatorDataPlane.JobState, Int, IteratorBox)? {
        guard unauthenticated < configuration.maxUnauthenticated else {
            let limit = configuration.maxUnauthenticated
            logger.warning("closing data connection from \(connection.peer): \(unauthenticated) not yet authenticated (limit \(limit))")
            connection.close()
            return nil
        }
        unauthenticated += 1
        var inbound = connection.inbound.makeAsyncIterator()
        let hello: Hello
        let dataPlane = self.dataPlane
        do {
            hello = try await Handshake.accept(connection, inbound: &inbound, as: name,
                                               timeout: configuration.helloTimeout) { hello throws(Handshake.Refusal) in
                guard let job = hello.job, hello.childIndex != nil else {
                    throw Handshake.Refusal(.protocolViolation, "data hello from \(hello.name) names no job/child index")
                }
                guard let key = dataPlane.key(ofJob: job) else {
                    throw Handshake.Refusal(.unknownJob, "unknown job \(job) (from \(hello.name))")
                }
                return key
            }
            unauthenticated -= 1
        } catch {
            unauthenticated -= 1
            logger.warning("refused data connection from \(connection.peer): \(error)")
            return nil
        }
        let index = hello.childIndex!
        switch dataPlane.attachChild(connection, job: hello.job!, index: index, from: hello.name) {
        case .failure(let refusal):
            logger.warning("rejected data connection from \(connection.peer): \(refusal.message)")
            _ = await Handshake.refuse(connection, name, refusal)
            return nil
        case .success(let state):
            logger.debug("child connected", metadata: ["job": "\(hello.job!)", "child": "\(index)", "who": "\(hello.name)"])
            return (state, index, IteratorBox(inbound))
        }
    }
}
