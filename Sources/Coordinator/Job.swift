import TributaryCore

/// Coordinator-side state of one job, from registration to its summary.
final class Job {
    enum Phase: Equatable {
        case registering, waitingForAggregators
        /// The fabric cannot give the job its tree now; it waits in `Coordinator.queue` (policy `queue`).
        case queued(reason: String)
        case assigning(level: Int), connecting, running

        var name: String {
            switch self {
            case .registering: return "registering"
            case .waitingForAggregators: return "waiting for aggregators"
            case .queued: return "queued"
            case .assigning, .connecting: return "assembling"
            case .running: return "running"
            }
        }
    }

    /// Operations whose details a summary keeps; past this a long-running job keeps counting but
    /// stops growing (the coordinator must stay bounded however long a job runs).
    static let summaryOperationLimit = 100_000

    struct WorkerEntry {
        let peer: Int
        let host: String
        let pid: Int32
        let ringEndpoint: Endpoint?
    }

    let id: UInt32
    let name: String
    let worldSize: Int
    /// The job's data key (hex): aggregators and ranks prove it to each other on data connections.
    let key: String
    /// The first rank's proof of the job secret; every later rank must match it.
    let proof: String
    /// Slots the job asks for per switch (nil: the fabric's default quota).
    let slotRequest: Int?
    var deadline: ContinuousClock.Instant
    /// Slots the fabric granted at each switch of the tree (empty on the host ring).
    var grant: [String: Int] = [:]
    /// Operations validated and folded into the summary; their records are gone.
    var completed: [JobSummary.Operation] = []
    var completedCount = 0
    /// Payload bytes each link of the tree carried, summed over completed operations.
    var linkLoads: [LinkLoad] = []
    let created = ContinuousClock.now
    var phase: Phase = .registering
    var workers: [Int: WorkerEntry] = [:]
    var tree: AggregationTree?
    /// Why the tree is not the topology's usual one (switches left out), for every operation's path.
    var treeNote: String?
    var streaming: StreamingParameters?
    var path = ""
    var pendingAcks: Set<String> = []
    var windowReason = "fixed"
    /// Set when no tree can serve the job: every operation then runs on the host ring.
    var fallbackReason: String?
    var ready: Set<Int> = []
    var done: Set<Int> = []
    var operations: [UInt64: OpRecord] = [:]
    /// Each rank's last heartbeat (`WorkerStatus`).
    var workerStatus: [Int: WorkerStatus] = [:]
    var failure: ErrorReport?
    /// The most specific stall report seen so far (see `Coordinator.errorReported`).
    var pendingTimeout: ErrorReport?
    /// A rank's connection closed; the job fails with this unless a more specific cause comes first.
    var pendingLoss: ErrorReport?
    var closed = false
    /// Recovery (docs/RELIABILITY.md): the tree epoch (one more per rebuild), the switches lost from
    /// the job's tree, and the rebuild in progress.
    var epoch = 0
    var lostSwitches: Set<String> = []
    var recovery: Recovery?
    /// Trees that earlier operations ran on: an operation below `untilOp` ran on the first entry
    /// whose bound it is under; later ones on `tree`.
    var earlierTrees: [(untilOp: UInt64, tree: AggregationTree)] = []
    /// Chunks of interrupted operations that an old tree had computed (the rest: the next tree).
    var chunkTrees: [UInt64: [Int: AggregationTree]] = [:]
    /// The last operation each rank that said done had started (`WorkerDone.operations`).
    var doneOps: [Int: UInt64] = [:]
    /// The summary's record of every recovery, and those still waiting for an operation to
    /// complete after them (with the instant of their fault).
    var recoveryLog: [JobSummary.RecoveryRecord] = []
    var recoveriesAwaitingSuccess: [(index: Int, faultAt: ContinuousClock.Instant, resumedAt: ContinuousClock.Instant?)] = []

    init(id: UInt32, name: String, worldSize: Int, key: String, proof: String, slotRequest: Int?,
         deadline: ContinuousClock.Instant) {
        self.id = id
        self.name = name
        self.worldSize = worldSize
        self.key = key
        self.proof = proof
        self.slotRequest = slotRequest
        self.deadline = deadline
    }

    var isOver: Bool { failure != nil || closed }

    /// The tree operation `seq` ran on (most of it, when a recovery interrupted it: see `chunkTrees`).
    func tree(forOp seq: UInt64) -> AggregationTree? {
        earlierTrees.first { seq < $0.untilOp }?.tree ?? tree
    }

    /// Moves a finished operation's record into the summary, so memory follows operations in
    /// flight, not operations run.
    func complete(_ seq: UInt64) {
        guard let record = operations.removeValue(forKey: seq) else { return }
        completedCount += 1
        if record.verdicts.values.allSatisfy(\.bitExact) {
            // The first operation done after a recovery's resume is its "next success" (done: every
            // rank had its result; the validation that followed is the coordinator's time).
            let now = record.reportedAt ?? .now
            recoveriesAwaitingSuccess.removeAll { pending in
                // Only an operation whose last report came after the resume (one reported before the
                // fault may be validated after it).
                guard let resumedAt = pending.resumedAt, now >= resumedAt else { return false }
                recoveryLog[pending.index].nextSuccessSeconds = (now - pending.faultAt).inSeconds
                return true
            }
        }
        chunkTrees.removeValue(forKey: seq)
        if let tree = tree(forOp: seq) {
            let sent = (0..<worldSize).map { record.reports[$0]?.bytesSent ?? 0 }
            let received = (0..<worldSize).map { record.reports[$0]?.bytesReceived ?? 0 }
            linkLoads = LinkLoad.merged(linkLoads + tree.linkLoads(algorithm: record.first.algorithm, bytesSent: sent,
                                                                    bytesReceived: received))
        }
        if completed.count < Self.summaryOperationLimit { completed.append(summaryOperation(record)) }
    }

    private func summaryOperation(_ record: OpRecord) -> JobSummary.Operation {
        let f = record.first
        let validated = record.reports.values.allSatisfy { $0.input != .none } && record.complete
            && record.verdicts.count == worldSize
        let wrong = record.verdicts.values.filter { !$0.bitExact }.map(\.rank).sorted()
        return JobSummary.Operation(
            opSeq: f.opSeq, collective: f.collective, dtype: f.dtype, op: f.op, count: f.count, root: f.root,
            seconds: record.reports.values.map(\.seconds).max() ?? 0, path: f.path, transport: f.transport,
            bitExact: validated ? wrong.isEmpty : nil, wrongRanks: wrong,
            detail: record.verdicts.values.filter { !$0.bitExact }.sorted { $0.rank < $1.rank }.first?.detail ?? "",
            algorithm: f.algorithm, measured: f.measured,
            rankSeconds: (0..<worldSize).map { record.reports[$0]?.seconds ?? 0 },
            bytesSentPerRank: record.reports.values.map(\.bytesSent).max() ?? 0,
            bytesReceivedPerRank: record.reports.values.map(\.bytesReceived).max() ?? 0,
            retried: record.reports.values.compactMap(\.retried).first, reductionProtocol: f.reductionProtocol)
    }

    func summary(tree treeText: String, topology: String) -> JobSummary {
        let inFlight = operations.keys.sorted().map { summaryOperation(operations[$0]!) }
        return JobSummary(job: id, jobName: name, worldSize: worldSize, tree: treeText, path: path,
                          operations: (completed + inFlight).sorted { $0.opSeq < $1.opSeq },
                          failure: failure?.description, topology: topology, treeEdges: tree?.edges,
                          links: linkLoads, recoveries: recoveryLog.isEmpty ? nil : recoveryLog)
    }

    /// The phase as `jobs`, `status` and metrics name it: a running job whose tree is being rebuilt
    /// is `recovering`.
    var shownPhase: String {
        if failure != nil { return "failed" }
        if recovery != nil { return "recovering" }
        return phase.name
    }

    /// What `tributary jobs` shows; nothing secret.
    func info(now: ContinuousClock.Instant) -> JobInfo {
        var shown = path
        if case .queued(let reason) = phase { shown = "waiting for resources: \(reason)" }
        return JobInfo(id: id, name: name, ranks: worldSize, registered: workers.count,
                       phase: shownPhase, path: shown, slots: grant,
                       operations: completedCount, seconds: (now - created).inSeconds)
    }
}

/// Reports and verdicts of one operation.
final class OpRecord {
    let first: OperationReport
    var reports: [Int: OperationReport] = [:]
    var verdicts: [Int: Verdict] = [:]
    var replay: HostReplay?
    var complete = false
    /// When the last rank's report came.
    var reportedAt: ContinuousClock.Instant?
    init(first: OperationReport) { self.first = first }
}
