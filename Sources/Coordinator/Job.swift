import TributaryCore

/// Coordinator-side state of one job, from registration to its summary.
final class Job {
    enum Phase: Equatable {
        case registering, waitingForAggregators, assigning(level: Int), connecting, running
    }

    struct WorkerEntry {
        let peer: Int
        let host: String
        let pid: Int32
        let ringEndpoint: Endpoint?
    }

    let id: UInt32
    let name: String
    let worldSize: Int
    let key: String
    let deadline: ContinuousClock.Instant
    let created = ContinuousClock.now
    var phase: Phase = .registering
    var workers: [Int: WorkerEntry] = [:]
    var tree: AggregationTree?
    var streaming: StreamingParameters?
    var path = ""
    var pendingAcks: Set<String> = []
    var windowReason = "fixed"
    /// Set when no tree can serve the job: every operation then runs on the host ring.
    var fallbackReason: String?
    var ready: Set<Int> = []
    var done: Set<Int> = []
    var operations: [UInt64: OpRecord] = [:]
    var failure: ErrorReport?
    /// The most specific stall report seen so far (see `Coordinator.errorReported`).
    var pendingTimeout: ErrorReport?
    var closed = false

    init(id: UInt32, name: String, worldSize: Int, key: String, deadline: ContinuousClock.Instant) {
        self.id = id
        self.name = name
        self.worldSize = worldSize
        self.key = key
        self.deadline = deadline
    }

    var isOver: Bool { failure != nil || closed }

    func summary(tree treeText: String) -> JobSummary {
        var ops: [JobSummary.Operation] = []
        for seq in operations.keys.sorted() {
            let record = operations[seq]!
            let f = record.first
            let validated = record.reports.values.allSatisfy { $0.input != .none } && record.complete
                && record.verdicts.count == worldSize
            let wrong = record.verdicts.values.filter { !$0.bitExact }.map(\.rank).sorted()
            ops.append(JobSummary.Operation(
                opSeq: seq, collective: f.collective, dtype: f.dtype, op: f.op, count: f.count, root: f.root,
                seconds: record.reports.values.map(\.seconds).max() ?? 0, path: f.path, transport: f.transport,
                bitExact: validated ? wrong.isEmpty : nil, wrongRanks: wrong,
                detail: record.verdicts.values.filter { !$0.bitExact }.sorted { $0.rank < $1.rank }.first?.detail ?? "",
                algorithm: f.algorithm, measured: f.measured,
                rankSeconds: (0..<worldSize).map { record.reports[$0]?.seconds ?? 0 },
                bytesSentPerRank: record.reports.values.map(\.bytesSent).max() ?? 0,
                bytesReceivedPerRank: record.reports.values.map(\.bytesReceived).max() ?? 0))
        }
        return JobSummary(job: id, jobName: name, worldSize: worldSize, tree: treeText, path: path, operations: ops,
                          failure: failure?.description)
    }
}

/// Reports and verdicts of one operation.
final class OpRecord {
    let first: OperationReport
    var reports: [Int: OperationReport] = [:]
    var verdicts: [Int: Verdict] = [:]
    var replay: HostReplay?
    var complete = false
    init(first: OperationReport) { self.first = first }
}
