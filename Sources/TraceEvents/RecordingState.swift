import TributaryCore

/// What a recorder has heard: the events not yet written, the operations still under way and the
/// lanes, kept within the recorder's limits. A value the recorder guards with its lock; it reads
/// no clock and writes nothing, so tests drive it event by event.
struct RecordingState {
    struct OperationKey: Hashable {
        var job: UInt32
        var op: UInt64
    }

    /// A chunk lane: one per job, peer and role, so each link's traffic has its own row.
    struct ChunkLaneKey: Hashable {
        enum Role: Hashable {
            case from
            case to(DataPlaneEvent.Direction)
            case results
        }

        var job: UInt32
        var role: Role
        var peer: String
    }

    let limits: TraceRecorder.Limits
    private(set) var lanes = LaneTable()
    private var jobNames: [UInt32: String] = [:]
    private var chunkLanes: [ChunkLaneKey: Int] = [:]
    private var foldLanes: [UInt32: SpanLanes] = [:]
    private var operationLanes: [UInt32: SpanLanes] = [:]
    private var slotsInUse: [UInt32: Int] = [:]
    private(set) var rankOperations: [OperationKey: RankOperation] = [:]
    private(set) var aggregatorOperations: [OperationKey: AggregatorOperation] = [:]
    /// A rank's operations started past the limit: their end writes no span.
    private var refused: Set<OperationKey> = []
    /// Per job, the operations up to this one are finished at this switch (or were past the
    /// limit): a straggling event of one of them starts no second span.
    private var finishedThrough: [UInt32: UInt64] = [:]

    /// Heard and not yet written (`takeUnwritten`).
    private(set) var chunks: [ChunkRecord] = []
    private(set) var operations: [OperationRecord] = []
    /// Chunk-level events kept (written or not) and turned away at the limit.
    private var chunkEvents: EventBudget
    /// Operation-level events (spans and job marks, finished or under way) kept and turned away.
    private var operationEvents: EventBudget
    var chunkEventsDropped: Int { chunkEvents.dropped }
    var operationEventsDropped: Int { operationEvents.dropped }
    /// Something was heard since the last `takeUnwritten`.
    private(set) var changed = false

    init(limits: TraceRecorder.Limits) {
        self.limits = limits
        chunkEvents = EventBudget(limit: limits.chunkEvents)
        operationEvents = EventBudget(limit: limits.operationEvents)
    }

    /// A lane's name: prefixed with the job's name where the process knows it (an aggregator serves
    /// several jobs; a rank belongs to one and is never told the name).
    private func laneName(_ job: UInt32, _ lane: String) -> String {
        jobNames[job].map { "job \($0): \(lane)" } ?? lane
    }

    mutating func record(_ event: DataPlaneEvent, at now: Int64) {
        changed = true
        switch event {
        case .chunkArrived(let job, let op, let chunk, let from, let bytes):
            let key = OperationKey(job: job, op: op)
            if aggregatorOperations[key] == nil, finishedThrough[job].map({ op > $0 }) ?? true {
                finishOperations(of: job, before: op)
                if admitOperationEvent() {
                    aggregatorOperations[key] = AggregatorOperation(job: job, op: op, start: now)
                } else {
                    finishedThrough[job] = op
                }
            }
            aggregatorOperations[key]?.arrival(from: from, bytes: bytes, at: now)
            guard admitChunkEvent() else { return }
            chunks.append(ChunkRecord(kind: .arrival, tid: chunkLane(job, .from, from), time: now, op: op, chunk: chunk,
                                      peer: from, bytes: bytes))
        case .chunkFolded(let job, let op, let chunk, let contributions, let waited):
            let duration = Int64(clamping: waited)
            aggregatorOperations[OperationKey(job: job, op: op)]?.fold(waited: duration, at: now)
            guard admitChunkEvent() else { return }
            var folds = foldLanes[job] ?? SpanLanes(name: laneName(job, "folds"))
            let lane = folds.place(start: now - duration, end: now)
            foldLanes[job] = folds
            chunks.append(ChunkRecord(kind: .fold(contributions: contributions, duration: duration),
                                      tid: lanes.tid(lane), time: now - duration, op: op, chunk: chunk, peer: "",
                                      bytes: 0))
        case .chunkSent(let job, let op, let chunk, let to, let direction, let bytes):
            aggregatorOperations[OperationKey(job: job, op: op)]?.send(direction == .up, bytes: bytes, at: now)
            guard admitChunkEvent() else { return }
            chunks.append(ChunkRecord(kind: .send(direction), tid: chunkLane(job, .to(direction), to), time: now,
                                      op: op, chunk: chunk, peer: to, bytes: bytes))
        case .resultArrived(let job, let op, let chunk, let from, let bytes):
            aggregatorOperations[OperationKey(job: job, op: op)]?.result(at: now)
            guard admitChunkEvent() else { return }
            chunks.append(ChunkRecord(kind: .result, tid: chunkLane(job, .results, from), time: now, op: op,
                                      chunk: chunk, peer: from, bytes: bytes))
        case .slotsInUse(let job, let slots, _):
            guard slotsInUse[job] != slots else { return }
            slotsInUse[job] = slots
            guard admitChunkEvent() else { return }
            chunks.append(ChunkRecord(kind: .slots(slots: slots, jobName: jobNames[job] ?? "\(job)"),
                                      tid: lanes.tid(laneName(job, "operations")), time: now, op: 0, chunk: 0,
                                      peer: "", bytes: 0))
        case .operationStarted(let job, let rank, let op, let collective, let dtype, let count, let algorithm):
            let key = OperationKey(job: job, op: op)
            guard admitOperationEvent() else {
                refused.insert(key)
                return
            }
            _ = lanes.tid(laneName(job, "operations"))
            rankOperations[key] = RankOperation(job: job, op: op, rank: rank, start: now, collective: collective,
                                                algorithm: algorithm, call: (dtype, count))
        case .operationEnded(let job, let rank, let op, let collective, let algorithm, let seconds, let sent,
                             let received, let failure):
            let key = OperationKey(job: job, op: op)
            if refused.remove(key) != nil { return }
            let started = rankOperations.removeValue(forKey: key)
            if started == nil && !admitOperationEvent() { return }
            var operation = started ?? RankOperation(job: job, op: op, rank: rank, start: now - Int64(seconds * 1e9),
                                                     collective: collective, algorithm: algorithm, call: nil)
            operation.ending = RankOperation.Ending(end: now, bytesSent: sent, bytesReceived: received,
                                                    seconds: seconds, failure: failure)
            let lane = laneName(job, "operations")
            let tid = Self.place(lane, job, operation.start, now, &lanes, &operationLanes)
            operations.append(.rank(operation, tid: tid))
        case .jobInstalled(let job, let name, let slots, let slotBytes):
            jobNames[job] = name
            guard admitOperationEvent() else { return }
            operations.append(.mark(TraceEvent(.instant, name: "job \(name) installed", category: "job",
                                               tid: lanes.tid(laneName(job, "operations")), time: now,
                                               args: [("job", .int(Int(job))), ("slots", .int(slots)),
                                                      ("slot_bytes", .int(slotBytes))])))
        case .jobEnded(let job):
            endJob(job, at: now)
        }
    }

    /// The job's operations at this switch are over: their spans are final. What was kept per job goes.
    private mutating func endJob(_ job: UInt32, at now: Int64) {
        finishOperations(of: job, before: nil)
        if admitOperationEvent() {
            operations.append(.mark(TraceEvent(.instant, name: "job \(jobNames[job] ?? "\(job)") ended",
                                               category: "job", tid: lanes.tid(laneName(job, "operations")),
                                               time: now, args: [("job", .int(Int(job)))])))
        }
        jobNames[job] = nil
        foldLanes[job] = nil
        operationLanes[job] = nil
        slotsInUse[job] = nil
        finishedThrough[job] = nil
        chunkLanes = chunkLanes.filter { $0.key.job != job }
    }

    /// The job's operations at this switch before `op` (all of them when nil) are over: their spans
    /// are final. A rank starts its next operation only once it has every result of the last, and
    /// a switch sends a result chunk to all its children at once, so the first contribution to
    /// operation `op` comes after the last chunk the switch sent of every earlier one.
    private mutating func finishOperations(of job: UInt32, before op: UInt64?) {
        let finished = aggregatorOperations.values
            .filter { operation in operation.job == job && (op.map { operation.op < $0 } ?? true) }
            .sorted { ($0.start, $0.op) < ($1.start, $1.op) }
        if let op, op > 0 { finishedThrough[job] = max(finishedThrough[job] ?? 0, op - 1) }
        guard !finished.isEmpty else { return }
        let lane = laneName(job, "operations")
        for operation in finished {
            aggregatorOperations[OperationKey(job: job, op: operation.op)] = nil
            let tid = Self.place(lane, job, operation.start, operation.end, &lanes, &operationLanes)
            operations.append(.aggregator(operation, tid: tid))
        }
    }

    /// The spans of the operations still under way, as they stand at `now` (marked `open`), and the
    /// lanes including theirs. Placed on copies: the recording itself is untouched.
    func openSpans(at now: Int64) -> (events: [TraceEvent], lanes: LaneTable) {
        var lanes = self.lanes
        var operationLanes = self.operationLanes
        var events: [TraceEvent] = []
        for started in rankOperations.values.sorted(by: { ($0.start, $0.op) < ($1.start, $1.op) }) {
            let tid = Self.place(laneName(started.job, "operations"), started.job, started.start, now, &lanes,
                                 &operationLanes)
            events.append(started.span(tid: tid, now: now))
        }
        for operation in aggregatorOperations.values.sorted(by: { ($0.start, $0.op) < ($1.start, $1.op) }) {
            let tid = Self.place(laneName(operation.job, "operations"), operation.job, operation.start, operation.end,
                                 &lanes, &operationLanes)
            events.append(operation.span(tid: tid, open: true))
        }
        return (events, lanes)
    }

    /// Hands over what was heard since the last call, to be written.
    mutating func takeUnwritten() -> (chunks: [ChunkRecord], operations: [OperationRecord]) {
        defer {
            chunks = []
            operations = []
            changed = false
        }
        return (chunks, operations)
    }

    /// The lane (of the job's operation lanes, named `name`, `name #2`, …) a span from `start` to `end` goes on.
    private static func place(_ name: String, _ job: UInt32, _ start: Int64, _ end: Int64, _ lanes: inout LaneTable,
                              _ spanLanes: inout [UInt32: SpanLanes]) -> Int {
        var jobLanes = spanLanes[job] ?? SpanLanes(name: name)
        let lane = jobLanes.place(start: start, end: end)
        spanLanes[job] = jobLanes
        return lanes.tid(lane)
    }

    private mutating func chunkLane(_ job: UInt32, _ role: ChunkLaneKey.Role, _ peer: String) -> Int {
        let key = ChunkLaneKey(job: job, role: role, peer: peer)
        if let tid = chunkLanes[key] { return tid }
        let name: String
        switch role {
        case .from: name = "from \(peer)"
        case .to(let direction): name = "to \(peer) (\(direction.rawValue))"
        case .results: name = "results from \(peer)"
        }
        let tid = lanes.tid(laneName(job, name))
        chunkLanes[key] = tid
        return tid
    }

    private mutating func admitChunkEvent() -> Bool { chunkEvents.admit() }

    /// Room for one more operation-level event (a span, finished or under way, or a job mark).
    private mutating func admitOperationEvent() -> Bool { operationEvents.admit() }
}

/// Events of one kind kept up to a limit, and how many were turned away past it.
struct EventBudget {
    let limit: Int
    private(set) var kept = 0
    private(set) var dropped = 0

    init(limit: Int) { self.limit = limit }

    /// Counts the event as kept when there is room, as dropped when not; says which.
    mutating func admit() -> Bool {
        guard kept < limit else {
            dropped += 1
            return false
        }
        kept += 1
        return true
    }
}
