import Authentication
import Foundation
import Logging
import Transport
import TributaryCore

/// Settings a worker joins a job with.
public struct WorkerConfiguration: Sendable {
    public var coordinator: Endpoint
    public var jobName: String
    public var rank: Int
    public var worldSize: Int
    /// The topology host this rank runs on; nil = host number `rank`.
    public var host: String?
    /// The topology's host number this rank runs on when `host` is nil (nil: number `rank`).
    public var hostNumber: Int?
    /// An operation that makes no progress for this long fails, naming the missing chunks.
    public var operationTimeout: Duration
    /// Joining (registration, tree assignment, readiness barrier) fails after this long.
    public var joinTimeout: Duration
    /// Where this rank listens for its host-ring predecessor (port 0: any free port).
    public var ringListen: Endpoint
    /// Which data transport runs and why (e.g. `rdma (auto: 10.99.0.2 on rxe1 port 1)`): every
    /// operation's report carries it. nil: the transport's name.
    public var transportReason: String?
    /// The fabric's client key: what this rank proves to the coordinator.
    public var clientKey: AuthKey
    /// The secret this job's ranks share (`JobSecret`): only ranks holding it join the same job.
    public var jobSecret: String
    /// Slots the job asks for at each switch (nil: the fabric's default quota).
    public var slotRequest: Int?
    /// How long a peer may take to answer a handshake.
    public var helloTimeout: Duration = .seconds(10)
    /// Hears every operation and chunk of this rank (metrics, traces); nil: nobody.
    public var observer: (any DataPlaneObserver)?
    /// Injected faults (`--faults`): asked before every operation (a slow rank) and, when `host` is
    /// known, before every chunk sent to the leaf (drop, delay, corrupt on this host's link); nil: none.
    public var faults: (any FaultHook)?

    public init(coordinator: Endpoint, jobName: String = "default", rank: Int, worldSize: Int, host: String? = nil,
                clientKey: AuthKey, jobSecret: String,
                operationTimeout: Duration = .seconds(60), joinTimeout: Duration = .seconds(60),
                ringListen: Endpoint = Endpoint(host: "127.0.0.1", port: 0), transportReason: String? = nil) {
        self.clientKey = clientKey
        self.jobSecret = jobSecret
        self.ringListen = ringListen
        self.transportReason = transportReason
        self.coordinator = coordinator
        self.jobName = jobName
        self.rank = rank
        self.worldSize = worldSize
        self.host = host
        self.operationTimeout = operationTimeout
        self.joinTimeout = joinTimeout
    }
}

/// How the coordinator can check an operation's result bit for bit.
public enum Validation: Sendable, Equatable {
    /// No check.
    case none
    /// The input was made by this generator for this rank; the coordinator regenerates it.
    case generated(InputGenerator)
    /// Ship the input bytes with the report (for buffers the application fills itself).
    case shipInput
}

/// How one operation ran, as the worker saw it.
public struct OperationResult: Sendable, Equatable {
    public var opSeq: UInt64
    public var collective: Collective
    public var dtype: DType
    public var op: ReduceOp
    public var count: Int
    /// Wall time of the operation at this rank (first chunk sent to last result placed).
    public var seconds: Double
    /// `in-network: …` or `host fallback: <reason>`.
    public var path: String
    public var transport: String
    /// nil when not validated; otherwise the coordinator's verdict for this rank.
    public var bitExact: Bool?
    public var detail: String
    public var bytesSent: Int
    public var bytesReceived: Int
    /// Why the operation ran again, in part or whole, on a new tree (a switch was lost); nil: once.
    public var retried: String? = nil
    /// In-network: the low-latency or the streaming protocol; nil on the host ring.
    public var reductionProtocol: ReductionProtocol? = nil
}

/// A rank's handle on a job, like an MPI communicator or a NCCL `ncclComm_t`: join once, then
/// run collectives in the same order on every rank. Not for concurrent use from several tasks.
public final class Communicator {
    public let configuration: WorkerConfiguration
    /// This rank's place in the job's tree; a recovery (a switch lost) gives it a new one.
    public internal(set) var assignment: WorkerAssignment
    public var rank: Int { configuration.rank }
    public var worldSize: Int { configuration.worldSize }
    public var transportName: String { dataTransportName }

    let logger: Logger
    let control: any FrameConnection
    /// The leaf connection; nil when the job runs on the host ring only (fallback).
    var data: (any FrameConnection)?
    /// The leaf connection, for the extensions (fault injection) that send on it.
    var leafConnection: (any FrameConnection)? { data }
    /// Counts leaf connections: events of an earlier leaf (before a recovery) are told apart.
    var leafGeneration = 0
    /// Where a new leaf is reached after a recovery.
    let dataTransport: any FrameTransport
    let dataTransportName: String
    var events: AsyncStream<Event>.Iterator
    /// Where the pumps of connections opened after the join (a new leaf) deliver their frames.
    let eventSink: AsyncStream<Event>.Continuation
    var pumps: [Task<Void, Never>]
    /// Buffers the application registered (`register`): registered again on a new leaf connection.
    var registeredBuffers: [UnsafeRawBufferPointer] = []
    /// Recovery (docs/RELIABILITY.md): the last epoch this rank answered, the new tree it was given
    /// and has not switched to yet, the results of its last in-network operation it keeps for
    /// ranks still in it, and the last in-network operation it finished.
    var recoveryEpoch = 0
    var pendingResume: RecoveryResume?
    var retention = ResultRetention()
    var lastInNetworkOp: (opSeq: UInt64, chunks: Int, collective: Collective, root: Int)?
    /// When and why the leaf connection ended, if it did (the leaf may be a lost switch).
    var leafEnded: (ContinuousClock.Instant, String)?
    /// The operation in progress, for the heartbeat.
    let progress = OperationProgress()
    /// Sends this rank's status to the coordinator every `AggregatorStatus.interval`, whatever the
    /// application is doing: a rank that stops (SIGSTOP, a hang) is named by its silence.
    private var heartbeat: Task<Void, Never>?
    var ringNext: (any FrameConnection)?
    var ringPrev: (any FrameConnection)?
    /// The connections this rank sends data on (to its leaf, to its ring successor): where its
    /// buffers are registered and whose sends `run` waits for.
    var sendingConnections: [any FrameConnection] { [data, ringNext].compactMap { $0 } }
    /// Why the ring predecessor's connection ended, if it did.
    var ringBroken: String?
    /// Ring frames of an operation this rank has not started yet (a faster predecessor).
    var ringBacklog: [Frame] = []

    /// The next event, ring frames held back from earlier first.
    func nextEvent() async -> Event? {
        if !ringBacklog.isEmpty { return .ring(ringBacklog.removeFirst()) }
        return await events.next()
    }

    /// Keeps a ring frame that belongs to a later operation; anything else is a violation.
    func holdEarlyRingFrame(_ frame: Frame) throws {
        if case .chunk(let h, _) = frame, h.opSeq > opSeq {
            ringBacklog.append(frame)
            return
        }
        throw WorkerError.protocolViolation("rank \(rank): ring frame outside any operation: \(frame)")
    }
    private var ringListener: (any FrameListener)?
    /// Set once a `delay` fault held a chunk for the leaf: every later chunk goes through it too.
    var leafDelayLine: FrameDelayLine?
    var opSeq: UInt64 = 0
    private var closed = false

    enum Event: Sendable {
        case control(ControlMessage)
        /// A frame from leaf connection number `leaf` (see `leafGeneration`).
        case data(Frame, leaf: Int)
        case controlEnded(String)
        case dataEnded(String, leaf: Int)
        /// A frame from the previous rank of the host ring.
        case ring(Frame)
        case ringEnded(String)
        /// The ring predecessor, authenticated, and its frames from after the handshake.
        case ringAccepted(any FrameConnection, IteratorBox)
        case tick
    }

    private init(configuration: WorkerConfiguration, assignment: WorkerAssignment, logger: Logger,
                 control: any FrameConnection, data: (any FrameConnection)?, dataTransport: any FrameTransport,
                 dataTransportName: String, events: AsyncStream<Event>.Iterator,
                 eventSink: AsyncStream<Event>.Continuation, pumps: [Task<Void, Never>], ring: RingLinks) {
        self.ringNext = ring.next
        self.ringPrev = ring.prev
        self.ringListener = ring.listener
        self.ringBacklog = ring.early
        self.configuration = configuration
        self.assignment = assignment
        self.logger = logger
        self.control = control
        self.data = data
        self.dataTransportName = dataTransportName
        self.dataTransport = dataTransport
        self.eventSink = eventSink
        self.events = events
        self.pumps = pumps
        let (control, progress, job, rank) = (control, progress, assignment.job, configuration.rank)
        heartbeat = Task {
            while !Task.isCancelled {
                control.send(.control(.workerStatus(WorkerStatus(job: job, rank: rank, operation: progress.snapshot()))))
                try? await Task.sleep(for: AggregatorStatus.interval)
            }
        }
    }

    deinit {
        // After `finish` the connections are closed already, and their transports may be shut down:
        // closing again would schedule work on a stopped event loop.
        if !closed {
            closeConnections()
            if let listener = ringListener { Task { await listener.close() } }
        }
    }

    private func closeConnections() {
        leafDelayLine?.cancel()
        heartbeat?.cancel()
        for pump in pumps { pump.cancel() }
        control.close()
        data?.close()
        ringNext?.close()
        ringPrev?.close()
    }

    /// Registers with the coordinator, receives the tree assignment, connects to the leaf
    /// aggregator and waits at the readiness barrier until every rank of the job is there.
    public static func join(_ configuration: WorkerConfiguration, control controlTransport: any FrameTransport,
                            data dataTransport: any FrameTransport, logger: Logger) async throws -> Communicator {
        let rank = configuration.rank
        guard configuration.worldSize > 0, rank >= 0, rank < configuration.worldSize else {
            throw WorkerError.invalidArgument("rank \(rank) is outside world size \(configuration.worldSize)")
        }
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        var pumps: [Task<Void, Never>] = []
        // Whatever fails below, nothing of the join keeps running.
        var joined = false
        let gate = KeyGate()
        var ring = RingLinks()
        var opened: [any FrameConnection] = []
        defer {
            if !joined {
                for pump in pumps { pump.cancel() }
                for connection in opened + [ring.prev].compactMap({ $0 }) { connection.close() }
                let listener = ring.listener
                Task {
                    await gate.close()
                    await listener?.close()
                }
            }
        }
        let control: any FrameConnection
        let controlInbound: IteratorBox
        do {
            (control, controlInbound) = try await Handshake.open(
                configuration.coordinator, over: controlTransport, hello: Hello(role: .worker, name: "rank \(rank)"),
                key: configuration.clientKey, timeout: configuration.helloTimeout)
            opened.append(control)
        } catch let report as ErrorReport {
            throw WorkerError.remote(report)
        } catch {
            throw WorkerError.coordinatorLost("\(error)")
        }
        pumps.append(pump(control, controlInbound, continuation, wrap: { frame in
            if case .control(let m) = frame { return .control(m) }
            return nil
        }, end: { .controlEnded($0) }))
        pumps.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                continuation.yield(.tick)
            }
        })
        var events = stream.makeAsyncIterator()
        let deadline = ContinuousClock.now + configuration.joinTimeout
        let prevRank = (rank + configuration.worldSize - 1) % configuration.worldSize
        /// Ring set-up events can come at any point of the join (the predecessor may be faster).
        func absorbRing(_ event: Event) throws -> Bool {
            switch event {
            case .ringAccepted(let connection, let inbound):
                if ring.prev == nil {
                    ring.prev = connection
                    pumps.append(pump(connection, inbound, continuation, wrap: { .ring($0) }, end: { .ringEnded($0) }))
                } else {
                    connection.close()
                }
                return true
            case .ring(let frame):
                // A predecessor that got `start` first may already be sending its first operation.
                ring.early.append(frame)
                return true
            case .ringEnded(let why):
                throw WorkerError.leafLost(leaf: "ring predecessor", reason: why)
            default:
                return false
            }
        }
        func awaitControl(_ what: String) async throws -> ControlMessage {
            while true {
                guard let event = await events.next() else { throw WorkerError.coordinatorLost("event stream ended") }
                if try absorbRing(event) { continue }
                switch event {
                case .control(.error(let r)): throw WorkerError.remote(r)
                case .control(let m): return m
                case .controlEnded(let why): throw WorkerError.coordinatorLost(why)
                case .dataEnded(let why, _): throw WorkerError.leafLost(leaf: "leaf", reason: why)
                case .data(.control(.error(let r)), _): throw WorkerError.remote(r)
                case .data, .ring, .ringAccepted, .ringEnded: continue
                case .tick:
                    if ContinuousClock.now > deadline {
                        throw WorkerError.timeout("rank \(rank) waited \(configuration.joinTimeout) for \(what)")
                    }
                }
            }
        }
        // The host ring (baseline and fallback) needs a listener before registration names it.
        // Its predecessor proves the job's data key, which arrives with the assignment: connections
        // accepted before then wait for it at the gate, apart from this join, so no rank's join
        // waits on another's.
        if configuration.worldSize > 1 {
            do {
                ring.listener = try await dataTransport.listen(on: configuration.ringListen)
            } catch {
                throw WorkerError.invalidArgument("rank \(rank) cannot listen for its ring peer: \(error)")
            }
            pumps.append(acceptRingPredecessor(ring.listener!, rank: rank, predecessor: prevRank, gate: gate,
                                               timeout: configuration.helloTimeout, logger: logger,
                                               continuation: continuation))
        }
        var registration = WorkerRegistration(
            jobName: configuration.jobName, rank: rank, worldSize: configuration.worldSize, host: configuration.host,
            pid: getpid(), ringEndpoint: ring.listener?.endpoint,
            jobProof: JobSecret.proof(secret: configuration.jobSecret, jobName: configuration.jobName),
            slotRequest: configuration.slotRequest)
        registration.hostNumber = configuration.hostNumber
        control.send(.control(.registerWorker(registration)))
        let assignment: WorkerAssignment
        switch try await awaitControl("the tree assignment (are all \(configuration.worldSize) ranks started?)") {
        case .assignWorker(let a): assignment = a
        case let other: throw WorkerError.unexpectedReply("expected assignment, got \(other)")
        }
        guard let jobKey = try? AuthKey(hex: assignment.jobKey) else {
            throw WorkerError.protocolViolation("rank \(rank): the assignment's job key is malformed")
        }
        await gate.open(job: assignment.job, key: jobKey)
        var data: (any FrameConnection)?
        if assignment.fallbackReason == nil {
            do {
                let (leaf, inbound) = try await Handshake.open(
                    assignment.leafEndpoint, over: dataTransport,
                    hello: Hello(role: .worker, name: "rank \(rank)", job: assignment.job, childIndex: assignment.childIndex),
                    key: jobKey, timeout: configuration.helloTimeout)
                opened.append(leaf)
                data = leaf
                pumps.append(pump(leaf, inbound, continuation, wrap: { .data($0, leaf: 0) },
                                  end: { .dataEnded($0, leaf: 0) }))
            } catch let report as ErrorReport {
                throw WorkerError.remote(report)
            } catch {
                throw WorkerError.leafLost(leaf: assignment.leaf, reason: "\(error)")
            }
        }
        if configuration.worldSize > 1 {
            guard let nextEndpoint = assignment.ringNext else {
                throw WorkerError.unexpectedReply("assignment names no ring peer for rank \(rank)")
            }
            do {
                let (next, inbound) = try await Handshake.open(
                    nextEndpoint, over: dataTransport,
                    hello: Hello(role: .worker, name: "rank \(rank)", job: assignment.job, childIndex: rank),
                    key: jobKey, timeout: configuration.helloTimeout)
                opened.append(next)
                ring.next = next
                pumps.append(pump(next, inbound, continuation, wrap: { frame in
                    if case .control(.error(let r)) = frame { return .control(.error(r)) }
                    return nil
                }, end: { _ in .tick }))
            } catch {
                throw WorkerError.leafLost(leaf: "ring peer rank \((rank + 1) % configuration.worldSize)",
                                           reason: "\(error)")
            }
        }
        // The ring predecessor proves the job key to our listener (see `acceptRingPredecessor`).
        while configuration.worldSize > 1 && ring.prev == nil {
            guard let event = await events.next() else { throw WorkerError.coordinatorLost("event stream ended") }
            if try absorbRing(event) { continue }
            switch event {
            case .data(.control(.error(let r)), _), .control(.error(let r)): throw WorkerError.remote(r)
            case .dataEnded(let why, _): throw WorkerError.leafLost(leaf: assignment.leaf, reason: why)
            case .controlEnded(let why): throw WorkerError.coordinatorLost(why)
            case .tick:
                if ContinuousClock.now > deadline {
                    throw WorkerError.timeout("rank \(rank): ring predecessor rank \(prevRank) never connected")
                }
            default: continue
            }
        }
        control.send(.control(.workerReady(WorkerReady(job: assignment.job, rank: rank))))
        switch try await awaitControl("every rank to be ready (barrier)") {
        case .start: break
        case let other: throw WorkerError.unexpectedReply("expected start, got \(other)")
        }
        logger.info("joined", metadata: ["rank": "\(rank)", "job": "\(assignment.job)", "leaf": "\(assignment.leaf)",
                                         "path": "\(assignment.path)"])
        joined = true
        return Communicator(configuration: configuration, assignment: assignment, logger: logger, control: control,
                            data: data, dataTransport: dataTransport,
                            dataTransportName: configuration.transportReason ?? dataTransport.name, events: events,
                            eventSink: continuation, pumps: pumps, ring: ring)
    }

    static func pump(_ connection: any FrameConnection, _ inbound: IteratorBox,
                             _ continuation: AsyncStream<Event>.Continuation,
                             wrap: @escaping @Sendable (Frame) -> Event?, end: @escaping @Sendable (String) -> Event)
        -> Task<Void, Never> {
        // Inline where the transport can: a frame goes from the thread that read it straight into
        // the event stream the operation waits on, with no task of its own in between.
        Task {
            switch await connection.serveFrames(after: inbound, { frame in
                if let event = wrap(frame) { continuation.yield(event) }
                return true
            }) {
            case .closed, .stopped: continuation.yield(end("\(connection.peer) closed the connection"))
            case .failed(let error): continuation.yield(end("\(error)"))
            }
        }
    }

    // MARK: Collectives (raw)

    /// Runs one collective over raw memory. `send` and `recv` may be the same memory (in place).
    /// Every rank must call the same collectives in the same order with matching arguments; the
    /// aggregators check that and name the ranks that disagree. `algorithm` nil means in-network,
    /// or the host ring when the coordinator said in-network cannot serve this job (the result's
    /// `path` then says why).
    public func run(_ collective: Collective, dtype: DType, op: ReduceOp, count: Int, root: Int = 0,
                    send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?, validation: Validation = .none,
                    algorithm requested: Algorithm? = nil, measured: Bool = true) async throws -> OperationResult {
        guard !closed else { throw WorkerError.invalidArgument("communicator is closed") }
        guard op.supports(dtype) else { throw WorkerError.invalidArgument("op \(op) is not defined for \(dtype)") }
        guard count >= 0, count <= Int(UInt32.max) * assignment.streaming.chunkElements(dtype) else {
            throw WorkerError.invalidArgument("count \(count) out of range")
        }
        guard collective != .barrier || count == 0 else {
            throw WorkerError.invalidArgument("a barrier carries no data (count \(count))")
        }
        if collective.isBlockwise {
            guard root >= 0, root.multipliedReportingOverflow(by: worldSize) == (count, false) else {
                throw WorkerError.invalidArgument("\(collective): \(count) elements are not \(worldSize) blocks of \(root)")
            }
        } else {
            guard root >= 0, root < worldSize else {
                throw WorkerError.invalidArgument("root \(root) is outside world size \(worldSize)")
            }
        }
        // An all-gather's op is an OR of zero-padded blocks whatever the caller named.
        let op = collective == .allGather ? .sum : op
        let contributes = collective == .allGather ? root > 0 : collective != .broadcast || rank == root
        let receives = switch collective {
        case .allreduce, .broadcast, .allGather: true
        case .reduce: rank == root
        case .reduceScatter: root > 0
        case .barrier: false
        }
        // Elements this rank sends: its block for an all-gather, the whole vector otherwise.
        let inputCount = collective == .allGather ? root : count
        if count > 0 {
            if contributes && send == nil { throw WorkerError.invalidArgument("\(collective) needs a send buffer") }
            if receives && recv == nil { throw WorkerError.invalidArgument("\(collective) needs a receive buffer") }
        }
        if let resume = pendingResume {
            // A switch was lost while this rank was between in-network operations: the new tree first.
            pendingResume = nil
            try await switchLeaf(to: resume.assignment)
        }
        var algorithm: Algorithm
        var path: String
        if let reason = assignment.fallbackReason {
            algorithm = .ring
            path = "host fallback: \(reason)"
        } else if requested == .ring {
            algorithm = .ring
            path = "host ring (requested)"
        } else {
            algorithm = .inNetwork
            path = assignment.path
        }
        opSeq += 1
        let seq = opSeq
        let size = dtype.size
        // Inputs travel to the coordinator before an in-place result overwrites them; one too large
        // for the control plane leaves the operation unchecked (bitExact nil), never wrongly checked.
        var validation = validation
        var shipped = Data()
        if validation == .shipInput, inputCount * size > InputSource.maxShippedBytes {
            validation = .none
        } else if validation == .shipInput, contributes, inputCount > 0, let send {
            shipped = Data(bytes: send, count: inputCount * size)
        }
        if collective == .allGather, root > 0, let send, let recv, send != UnsafeRawPointer(recv + rank * root * size) {
            // The block goes where the result will have it; the in-network path sends it from there.
            (recv + rank * root * size).copyMemory(from: send, byteCount: root * size)
        }
        let results = ResultChunks(
            ResultLayout(collective: collective, geometry: assignment.streaming.geometry(count: count, dtype: dtype),
                         size: size, rank: rank, root: root, worldSize: worldSize, receivesAny: receives && count > 0),
            recv: recv)
        let call = Call(collective: collective, dtype: dtype, op: op, count: count, root: root, seq: seq,
                        contributes: contributes, receives: receives,
                        reductionProtocol: assignment.streaming.reductionProtocol(count: count, dtype: dtype))
        if let pause = configuration.faults?.operationDelay(rank: rank, job: configuration.jobName, opSeq: seq) {
            // A straggler: late to every operation, so the others' slots wait for it (the time is its own).
            logger.notice("fault injection: rank \(rank) sleeps \(pause) before op #\(seq)")
            try? await Task.sleep(for: pause)
        }
        let start = ContinuousClock.now
        let observer = configuration.observer
        observer?.observe(.operationStarted(job: assignment.job, rank: rank, opSeq: seq, collective: collective,
                                            dtype: dtype, count: count, algorithm: algorithm))
        var traffic: (sent: Int, received: Int)
        var retried: String?
        progress.begin(opSeq: seq, collective: collective,
                       chunks: assignment.streaming.chunkCount(count: count, dtype: dtype),
                       waitingFor: algorithm == .inNetwork ? assignment.leaf
                           : "ring peer rank \((rank + worldSize - 1) % worldSize)")
        defer { progress.end() }
        do {
            switch algorithm {
            case .inNetwork:
                do {
                    let ran = try await runInNetwork(call, send: send, recv: recv, results: results)
                    traffic = (ran.sent, ran.received)
                    retried = ran.retried
                } catch let restart as RestartOnRing {
                    // The lost switches left no tree and nobody held a result: the ring runs it all.
                    algorithm = .ring
                    path = assignment.path
                    retried = restart.reason
                    progress.begin(opSeq: seq, collective: collective,
                                   chunks: assignment.streaming.chunkCount(count: count, dtype: dtype),
                                   waitingFor: "ring peer rank \((rank + worldSize - 1) % worldSize)")
                    traffic = try await runRing(call, send: send, recv: recv)
                }
            case .ring: traffic = try await runRing(call, send: send, recv: recv)
            }
            // The caller may reuse `send` on return: no send may still read registered memory.
            for connection in sendingConnections { try await connection.waitForSends() }
        } catch {
            observer?.observe(.operationEnded(job: assignment.job, rank: rank, opSeq: seq, collective: collective,
                                              algorithm: algorithm, seconds: (ContinuousClock.now - start).inSeconds,
                                              bytesSent: 0, bytesReceived: 0, failure: "\(error)"))
            throw error
        }
        let seconds = (ContinuousClock.now - start).inSeconds
        observer?.observe(.operationEnded(job: assignment.job, rank: rank, opSeq: seq, collective: collective,
                                          algorithm: algorithm, seconds: seconds, bytesSent: traffic.sent,
                                          bytesReceived: traffic.received, failure: nil))
        let reductionProtocol = algorithm == .inNetwork ? call.reductionProtocol : nil
        var result = OperationResult(opSeq: seq, collective: collective, dtype: dtype, op: op, count: count,
                                     seconds: seconds, path: path, transport: dataTransportName,
                                     bitExact: nil, detail: "", bytesSent: traffic.sent,
                                     bytesReceived: traffic.received, retried: retried,
                                     reductionProtocol: reductionProtocol)
        // Report to the coordinator; with validation, wait for its verdict.
        let digests = validation != .none ? results.digests() : []
        let input: InputSource
        switch validation {
        case .none: input = .none
        case .generated(let g): input = .generated(g)
        case .shipInput: input = .shipped(shipped)
        }
        var report = OperationReport(
            job: assignment.job, rank: rank, opSeq: seq, collective: collective, dtype: dtype, op: op, count: count,
            root: root, input: input, chunkDigests: digests, seconds: seconds, path: path,
            transport: dataTransportName, algorithm: algorithm, bytesSent: traffic.sent,
            bytesReceived: traffic.received)
        report.measured = measured
        report.retried = retried
        report.reductionProtocol = reductionProtocol
        control.send(.control(.opReport(report)))
        if validation != .none {
            let verdict = try await awaitVerdict(seq, results: results)
            result.bitExact = verdict.bitExact
            result.detail = verdict.detail
        }
        return result
    }

    /// One call's arguments, as every algorithm needs them.
    struct Call {
        var collective: Collective
        var dtype: DType
        var op: ReduceOp
        var count: Int
        var root: Int
        var seq: UInt64
        var contributes: Bool
        var receives: Bool
        /// How it travels if it runs in-network (the job's chunk geometry never changes, so a
        /// recovery does not change it either).
        var reductionProtocol: ReductionProtocol
    }

    /// Events that are not progress for the current operation: failures end it, the rest wait.
    func handleOther(_ event: Event, ringNeeded: Bool = false) throws {
        switch event {
        case .data(_, let leaf) where leaf != leafGeneration:
            break  // from the leaf before a recovery
        case .dataEnded(_, let leaf) where leaf != leafGeneration:
            break
        case .data(.control(.error(let r)), _), .control(.error(let r)), .ring(.control(.error(let r))):
            throw WorkerError.remote(r)
        case .data(.control(let other), _):
            logger.warning("unexpected control message from leaf: \(other)")
        case .control(.recoveryQuery(let q)):
            reportStateBetweenOperations(q)
        case .control(.recoveryResume(let r)) where r.job == assignment.job && r.epoch == recoveryEpoch:
            // This rank is in no in-network operation: it moves to the new leaf before its next one.
            pendingResume = r
        case .control(.fetchChunks(let f)) where f.job == assignment.job:
            answerFetchFromRetention(f)
        case .control(let other):
            // Nothing waits for it (a verdict of an earlier operation, a heartbeat): note and drop.
            logger.debug("control message outside its exchange: \(other)")
        case .dataEnded(let why, _):
            // The leaf may be a lost switch: the coordinator recovers (or fails the job); the next
            // in-network operation fails if it has said nothing by `leafLossGrace`.
            logger.notice("rank \(rank): connection to \(assignment.leaf) ended: \(why)")
            leafEnded = (.now, why)
        case .controlEnded(let why):
            throw WorkerError.coordinatorLost(why)
        case .ringEnded(let why):
            // A predecessor that finished and left is no failure until the ring is needed again.
            ringBroken = why
            if ringNeeded {
                throw WorkerError.leafLost(leaf: "ring peer rank \((rank + worldSize - 1) % worldSize)", reason: why)
            }
        case .ringAccepted(let connection, _):
            connection.close()
        case .ring(let frame):
            try holdEarlyRingFrame(frame)
        case .data(let frame, _):
            throw WorkerError.protocolViolation("rank \(rank): frame outside any operation: \(frame)")
        case .tick:
            break
        }
    }

    private func awaitVerdict(_ seq: UInt64, results: ResultChunks) async throws -> Verdict {
        let start = ContinuousClock.now
        while true {
            guard let event = await events.next() else { throw WorkerError.coordinatorLost("event stream ended") }
            switch event {
            case .control(.verdict(let v)) where v.opSeq == seq:
                return v
            case .control(.fetchChunks(let f)) where f.opSeq == seq:
                answerFetch(f) { k in results.heldData(k) }
            case .data(.control(.error(let r)), let leaf) where leaf == leafGeneration:
                throw WorkerError.remote(r)
            case .data(let frame, let leaf) where leaf == leafGeneration:
                throw WorkerError.protocolViolation("rank \(rank): data frame while awaiting a verdict: \(frame)")
            case .tick:
                if ContinuousClock.now - start > configuration.operationTimeout {
                    throw WorkerError.timeout("rank \(rank) op #\(seq): no validation verdict from the coordinator")
                }
            default:
                try handleOther(event)
            }
        }
    }

    /// Registers memory the application passes to `run` and keeps allocated until `deregister`
    /// (NCCL's `ncclCommRegister`): over RDMA, chunks sent from it go by DMA from where they are,
    /// with no copy into the transport's buffers. Register once, reuse for every operation;
    /// registering a buffer again or a part of one reuses the registration. Returns whether a
    /// transport registered it (TCP copies anyway).
    @discardableResult
    public func register(_ buffer: UnsafeRawBufferPointer) throws -> Bool {
        var registered = false
        for connection in sendingConnections {
            registered = try connection.register(buffer) || registered
        }
        registeredBuffers.append(buffer)
        return registered
    }

    /// Ends one `register` of `buffer`; call before freeing it.
    public func deregister(_ buffer: UnsafeRawBufferPointer) {
        for connection in sendingConnections { connection.deregister(buffer) }
        if let i = registeredBuffers.lastIndex(where: { $0.baseAddress == buffer.baseAddress && $0.count == buffer.count }) {
            registeredBuffers.remove(at: i)
        }
    }

    /// Tells the coordinator this rank is done and closes the connections.
    public func finish() async {
        guard !closed else { return }
        closed = true
        try? await control.sendAndWait(.control(.workerDone(WorkerDone(job: assignment.job, rank: rank,
                                                                       operations: Int(opSeq)))))
        // Give the coordinator a moment to read it before the connection closes.
        var deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            guard let event = await events.next() else { break }
            switch event {
            case .control(.shutdown), .controlEnded: deadline = .now
            case .control(.recoveryQuery(let q)):
                // Ranks still in the last operation may need what this one keeps: stay until the job ends.
                reportStateBetweenOperations(q)
                deadline = .now + configuration.operationTimeout
            case .control(.fetchChunks(let f)) where f.job == assignment.job:
                answerFetchFromRetention(f)
            default: break
            }
        }
        closeConnections()
        if let listener = ringListener { await listener.close() }
    }

    /// Tells the coordinator why this rank gives up (so the report names it), then closes.
    public func abort(_ message: String) {
        control.send(.control(.error(ErrorReport(kind: .internalError, job: assignment.job, ranks: [rank],
                                                 reporter: "rank \(rank)", message: message))))
        // An aborted rank says nothing more: a heartbeat after this could outlive the transports.
        heartbeat?.cancel()
    }
}
