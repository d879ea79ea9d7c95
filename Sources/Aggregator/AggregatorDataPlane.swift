import Authentication
import Foundation
import Logging
import Transport
import TributaryCore

/// The data path of one aggregator, run to completion: a child's chunk is checked, folded and, when
/// it completes its slot, forwarded up on the thread that read it (the transport's, where it
/// delivers frames inline: `FrameConnection.deliverInline`), with no hop through a stream, a task
/// or the daemon's actor — a switch pipeline does none of that either. Every job's engine, its
/// connections and the link counters live here behind one lock, which the control plane (the
/// daemon's actor: assignments, job ends, heartbeats, stall checks) takes too.
///
/// Nothing called with the lock held may call back into this object: connection ends reach it
/// from a task (`connectionEnded`), never from inside a send or a close.
final class AggregatorDataPlane: @unchecked Sendable {
    let configuration: AggregatorConfiguration
    private let logger: Logger
    private let lock = NSLock()
    private var jobs: [UInt32: JobState] = [:]
    /// Payload bytes per tree link since start, keyed (child node, parent node): for heartbeats.
    private var linkBytes: [LinkEnds: (up: Int, down: Int)] = [:]
    /// Where failures and heartbeats go (set once registered).
    private var coordinator: (any FrameConnection)?
    /// The daemon is going down: connections ending now are no failure to report.
    private var stopping = false

    struct LinkEnds: Hashable {
        var from: String
        var to: String
    }

    /// One installation of a job here: its engine, key, connections and link names.
    final class JobState: @unchecked Sendable {
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
        var job: UInt32 { engine.assignment.job }

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

    /// Which end of a tree link a connection is: a child by its index, or the parent.
    enum Link: Sendable {
        case child(Int)
        case parent
    }

    init(configuration: AggregatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    private var name: String { "aggregator \(configuration.switchName)" }

    // MARK: control plane

    func setCoordinator(_ connection: any FrameConnection) {
        lock.withLock { coordinator = connection }
    }

    var jobCount: Int { lock.withLock { jobs.count } }

    /// The key children of `job` must prove, nil when the job is not installed here.
    func key(ofJob job: UInt32) -> AuthKey? {
        lock.withLock { jobs[job]?.key }
    }

    /// Installs a job; false when one with its number is already here.
    func install(_ state: JobState) -> Bool {
        lock.withLock {
            guard jobs[state.job] == nil else { return false }
            jobs[state.job] = state
            configuration.observer?.observe(.jobInstalled(job: state.job, name: state.jobName,
                                                          slots: state.engine.assignment.slots,
                                                          slotBytes: state.engine.assignment.slotBytes))
            return true
        }
    }

    /// The parent connection of an installation, unless the job has ended or been installed again.
    func setParent(_ connection: any FrameConnection, of state: JobState) -> Bool {
        lock.withLock {
            guard jobs[state.job] === state else { return false }
            state.parent = connection
            return true
        }
    }

    /// Seats a child's connection at its index; the refusal in words when it cannot be.
    func attachChild(_ connection: any FrameConnection, job: UInt32, index: Int, from who: String)
        -> Result<JobState, Handshake.Refusal> {
        lock.withLock {
            guard let state = jobs[job] else {
                return .failure(Handshake.Refusal(.unknownJob, "job \(job) ended while \(who) connected"))
            }
            guard index >= 0, index < state.children.count, state.children[index] == nil else {
                return .failure(Handshake.Refusal(.protocolViolation,
                                                  "child index \(index) from \(who) is invalid or taken"))
            }
            state.children[index] = connection
            return .success(state)
        }
    }

    /// A job is over: its slots, its connections and its key go, so nothing it held outlives it.
    func endJob(_ job: UInt32) {
        guard let state = lock.withLock({ () -> JobState? in
            guard let state = jobs.removeValue(forKey: job) else { return nil }
            configuration.observer?.observe(.jobEnded(job: job))
            return state
        }) else { return }
        close(state)
        logger.info("job ended", metadata: ["job": "\(job)", "jobs left": "\(jobCount)"])
    }

    /// The coordinator gave up an operation: its slots are freed.
    func abandon(job: UInt32, opSeq: UInt64) {
        lock.withLock { jobs[job]?.engine.abandon(opSeq: opSeq) }
    }

    /// Going down: no frame is handled from now on, every job's connections close and their
    /// ends are not reported.
    func shutdown() {
        let states = lock.withLock { () -> [JobState] in
            stopping = true
            return Array(jobs.values)
        }
        for state in states { close(state) }
    }

    /// Called without the lock: a close may end the connection (and call its handler) at once.
    private func close(_ state: JobState) {
        let (lines, parent, children) = lock.withLock { (Array(state.delayLines.values), state.parent, state.children) }
        for line in lines { line.cancel() }
        parent?.close()
        for child in children { child?.close() }
    }

    // MARK: data path

    /// A frame on `link` of installation `state`. False: the installation is gone (a recovery
    /// installed the job again, or it ended) and nothing more from this connection counts.
    @discardableResult
    func received(_ frame: Frame, on link: Link, of state: JobState) -> Bool {
        let outgoing: [Outgoing] = lock.withLock {
            guard !stopping, jobs[state.job] === state else { return [.stop] }
            switch (link, frame) {
            case (.child(let index), .chunk(let header, let payload)):
                return contribution(header, payload, from: index, state)
            case (.parent, .chunk(let header, let payload)):
                configuration.observer?.observe(.resultArrived(job: state.job, opSeq: header.opSeq,
                                                               chunk: header.chunkIndex, from: state.parentName,
                                                               bytes: payload.count))
                linkBytes[LinkEnds(from: configuration.switchName, to: state.parentName), default: (0, 0)].down
                    += payload.count
                return execute(state.engine.result(header: header, payload: payload), state)
            case (.child(let index), .control(.error(let r))):
                logger.error("child \(index) reports: \(r)")
                return []
            case (.parent, .control(.error(let r))):
                // Pass failures down so every worker below learns why its operation ended.
                return state.children.compactMap { $0 }.map { .send(.control(.error(r)), on: $0) }
            case (.child(let index), .control(let other)):
                logger.warning("unexpected control message from child \(index): \(other)")
                return []
            case (.parent, .control(let other)):
                logger.warning("unexpected control message from parent: \(other)")
                return []
            }
        }
        var keepReading = true
        for item in outgoing {
            switch item {
            case .stop: keepReading = false
            case .send(let frame, let connection): connection.send(frame)
            case .shared(let frame, let connection): connection.send(frame)
            }
        }
        return keepReading
    }

    /// The connection on `link` ended (closed, failed or unreadable): the coordinator hears who,
    /// unless the installation is gone or the daemon is going down.
    func connectionEnded(_ link: Link, of state: JobState, reason: String) {
        let report: ErrorReport? = lock.withLock {
            guard jobs[state.job] === state, !stopping else { return nil }
            let who: String
            var ranks: [Int] = []
            switch link {
            case .child(let child):
                state.children[child] = nil
                ranks = state.engine.assignment.childRanks[child]
                who = "child \(child) (\(state.engine.assignment.children[child]))"
            case .parent:
                state.parent = nil
                who = "parent"
            }
            logger.warning("\(who) of job \(state.job) gone: \(reason)")
            return ErrorReport(kind: .peerLost, job: state.job, ranks: ranks, reporter: name,
                               message: "\(who) lost: \(reason)")
        }
        if let report { self.report(report) }
    }

    /// What the fold decided to send, sent once the lock is released.
    private enum Outgoing {
        case send(Frame, on: any FrameConnection)
        case shared(SharedFrame, on: any FrameConnection)
        case stop
    }

    /// A child's chunk: the fault hook, the counters, the fold and what it sends. Lock held.
    private func contribution(_ header: ChunkHeader, _ payload: [UInt8], from index: Int, _ state: JobState)
        -> [Outgoing] {
        // A kill or hang set for this chunk strikes before it is folded (the process ends or stops here).
        configuration.faults?.contributionArrived(at: configuration.switchName, job: state.jobName,
                                                  opSeq: header.opSeq, chunk: header.chunkIndex)
        linkBytes[LinkEnds(from: state.childNames[index], to: configuration.switchName), default: (0, 0)].up
            += payload.count
        let actions = state.engine.contribution(from: index, header: header, payload: payload,
                                                now: DispatchTime.now().uptimeNanoseconds)
        if let observer = configuration.observer {
            observe(observer, arrivalOf: header, bytes: payload.count, from: state.childNames[index], state)
        }
        return execute(actions, state)
    }

    /// Turns the engine's actions into sends. Lock held; nothing is sent here.
    private func execute(_ actions: [EngineAction], _ state: JobState) -> [Outgoing] {
        let job = state.job
        var out: [Outgoing] = []
        // A result fanned out to several children is encoded once.
        // (Array == is a storage-identity check when both share one buffer, as fanned-out results do.)
        var shared: [SharedFrame] = []
        for action in actions {
            switch action {
            case .sendUp(let frame):
                if case .chunk(let h, let payload) = frame {
                    configuration.observer?.observe(.chunkSent(job: job, opSeq: h.opSeq, chunk: h.chunkIndex,
                                                               to: state.parentName, direction: .up,
                                                               bytes: payload.count))
                    linkBytes[LinkEnds(from: configuration.switchName, to: state.parentName), default: (0, 0)].up
                        += payload.count
                }
                if let parent = state.parent {
                    if configuration.faults == nil {
                        out.append(.send(frame, on: parent))
                    } else {
                        out += transmit(frame, on: parent, link: -1, state)
                    }
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
                    out += transmit(frame, on: connection, link: child, state)
                } else if let connection = state.children[child] {
                    let prepared: SharedFrame
                    if let existing = shared.first(where: { $0.frame == frame }) {
                        prepared = existing
                    } else {
                        prepared = SharedFrame(frame)
                        shared.append(prepared)
                    }
                    out.append(.shared(prepared, on: connection))
                } else {
                    out.append(contentsOf: reportFrames(ErrorReport(
                        kind: .peerLost, job: job, ranks: state.engine.assignment.childRanks[child], reporter: name,
                        message: "result for child \(child), which is not connected")))
                }
            case .fail(let report):
                logger.error("\(report)")
                out += reportFrames(report)
                out += state.children.compactMap { $0 }.map { .send(.control(.error(report)), on: $0) }
            }
        }
        return out
    }

    /// Sends a chunk frame on tree link `link` (a child index, -1: the parent) as the fault hook
    /// says: not at all, with a flipped payload byte (in a copy; a fanned-out result's other
    /// children get it intact), or later through the link's delay line — never blocking the path.
    private func transmit(_ frame: Frame, on connection: any FrameConnection, link: Int, _ state: JobState)
        -> [Outgoing] {
        guard let faults = configuration.faults, case .chunk(let header, let payload) = frame else {
            return [.send(frame, on: connection)]
        }
        let peer = link < 0 ? state.parentName : state.childNames[link]
        let fault = faults.frameFault(from: configuration.switchName, to: peer, job: state.jobName,
                                      opSeq: header.opSeq, chunk: header.chunkIndex, payloadBytes: payload.count)
        if fault.drop {
            logger.notice("fault injection: dropped op #\(header.opSeq) chunk \(header.chunkIndex) to \(peer)")
            return []
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
            return []
        }
        return [.send(out, on: connection)]
    }

    /// A child's chunk arrived: what it brought, and the fold it completed, if it did. Lock held.
    private func observe(_ observer: any DataPlaneObserver, arrivalOf header: ChunkHeader, bytes: Int,
                         from child: String, _ state: JobState) {
        let job = state.job
        observer.observe(.chunkArrived(job: job, opSeq: header.opSeq, chunk: header.chunkIndex, from: child,
                                       bytes: bytes))
        if let fold = state.engine.lastFold {
            observer.observe(.chunkFolded(job: job, opSeq: fold.opSeq, chunk: fold.chunk,
                                          contributions: state.childNames.count, waited: fold.waited))
        }
        observer.observe(.slotsInUse(job: job, slots: state.engine.pool.inUse,
                                     slotBytes: state.engine.pool.inUse * state.engine.pool.slotBytes))
    }

    // MARK: reports

    /// Tells the coordinator (lock not held).
    func report(_ report: ErrorReport) {
        for item in lock.withLock({ reportFrames(report) }) {
            if case .send(let frame, let connection) = item { connection.send(frame) }
        }
    }

    /// The frame that tells the coordinator. Lock held.
    private func reportFrames(_ report: ErrorReport) -> [Outgoing] {
        guard let coordinator else { return [] }
        return [.send(.control(.error(report)), on: coordinator)]
    }

    /// The heartbeat: alive, each job's slots and oldest waits, and the bytes each link carried.
    func status() -> AggregatorStatus {
        lock.withLock {
            let now = DispatchTime.now().uptimeNanoseconds
            func seconds(since t: UInt64) -> Double { Double(now &- t) / 1e9 }
            let statuses = jobs.keys.sorted().map { job -> AggregatorStatus.JobStatus in
                let state = jobs[job]!
                let engine = state.engine
                let waits = engine.waits(limit: AggregatorStatus.waitsShown).map { w in
                    AggregatorStatus.SlotWait(opSeq: w.opSeq, chunk: w.chunk,
                                              missing: w.missing.map { state.childNames[$0] },
                                              missingRanks: w.ranks, seconds: seconds(since: w.since))
                }
                let up = engine.oldestAwaitingParent().map {
                    AggregatorStatus.ChunkWait(opSeq: $0.opSeq, chunk: $0.chunk, parent: state.parentName,
                                               seconds: seconds(since: $0.since))
                }
                return AggregatorStatus.JobStatus(job: job, slotsInUse: engine.pool.inUse, slots: engine.pool.slots,
                                                  chunksFolded: engine.chunksFolded, waits: waits,
                                                  awaitingParent: up)
            }
            // Each link once: the switch above it reports it (its child's count of the same bytes is not sent).
            let links = linkBytes.filter { $0.key.to == configuration.switchName }
                .map { LinkLoad(from: $0.key.from, to: $0.key.to, bytesUp: $0.value.up, bytesDown: $0.value.down) }
                .sorted { ($0.from, $0.to) < ($1.from, $1.to) }
            return AggregatorStatus(switchName: configuration.switchName, jobs: statuses, links: links)
        }
    }

    /// Slots and chunks that have waited longer than the stall timeout, as reports.
    func stalls() -> [ErrorReport] {
        lock.withLock {
            let now = DispatchTime.now().uptimeNanoseconds
            let timeout = UInt64(configuration.stallTimeout.components.seconds) * 1_000_000_000
            var reports: [ErrorReport] = []
            for (job, state) in jobs {
                for stall in state.engine.parentStalls(now: now, timeout: timeout) {
                    reports.append(ErrorReport(
                        kind: .timeout, job: job, opSeq: stall.opSeq, reporter: name,
                        message: "op #\(stall.opSeq) chunk \(stall.chunk) has waited \(configuration.stallTimeout) "
                            + "for its result from \(state.parentName)"))
                }
                for stall in state.engine.stalledSlots(now: now, timeout: timeout) {
                    reports.append(ErrorReport(
                        kind: .timeout, job: job, opSeq: stall.opSeq, ranks: stall.missing, reporter: name,
                        message: "op #\(stall.opSeq) chunk \(stall.chunk) has waited "
                            + "\(configuration.stallTimeout) for ranks \(RankList.format(stall.missing))"))
                }
            }
            return reports
        }
    }
}
