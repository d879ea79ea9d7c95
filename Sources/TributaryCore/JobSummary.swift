import Foundation

/// The record of one job: what ran, how, how fast, and whether every result was bit-exact.
/// Written as JSON by the coordinator and rendered as a table by `launch`.
public struct JobSummary: Sendable, Codable, Equatable {
    public struct Operation: Sendable, Codable, Equatable {
        public var opSeq: UInt64
        public var collective: Collective
        public var dtype: DType
        public var op: ReduceOp
        public var count: Int
        public var root: Int
        /// Slowest rank's time: the operation is done when the last rank has its result.
        public var seconds: Double
        public var path: String
        public var transport: String
        /// nil when not validated.
        public var bitExact: Bool?
        /// Ranks whose result differed.
        public var wrongRanks: [Int]
        public var detail: String
        public var algorithm: Algorithm
        public var measured: Bool
        /// Per-rank times (index = rank), for percentiles and skew.
        public var rankSeconds: [Double]
        /// Largest payload bytes any rank sent / received for this operation.
        public var bytesSentPerRank: Int
        public var bytesReceivedPerRank: Int
        /// Why the operation was retried on a new tree (a switch was lost); nil: it ran once.
        public var retried: String? = nil
        /// In-network: the low-latency or the streaming protocol; nil on the host ring.
        public var reductionProtocol: ReductionProtocol? = nil

        public var bytes: Int { count * dtype.size }

        public init(opSeq: UInt64, collective: Collective, dtype: DType, op: ReduceOp, count: Int, root: Int,
                    seconds: Double, path: String, transport: String, bitExact: Bool?, wrongRanks: [Int],
                    detail: String, algorithm: Algorithm, measured: Bool, rankSeconds: [Double], bytesSentPerRank: Int,
                    bytesReceivedPerRank: Int, retried: String? = nil, reductionProtocol: ReductionProtocol? = nil) {
            self.retried = retried
            self.reductionProtocol = reductionProtocol
            self.opSeq = opSeq
            self.collective = collective
            self.dtype = dtype
            self.op = op
            self.count = count
            self.root = root
            self.seconds = seconds
            self.path = path
            self.transport = transport
            self.bitExact = bitExact
            self.wrongRanks = wrongRanks
            self.detail = detail
            self.algorithm = algorithm
            self.measured = measured
            self.rankSeconds = rankSeconds
            self.bytesSentPerRank = bytesSentPerRank
            self.bytesReceivedPerRank = bytesReceivedPerRank
        }
    }

    public var job: UInt32
    public var jobName: String
    public var worldSize: Int
    public var tree: String
    public var path: String
    public var operations: [Operation]
    public var failure: String?
    /// The topology the job ran on (`Topology.name`).
    public var topology: String? = nil
    /// The tree that ran, as (child node, parent node) pairs; on the host ring, (host, successor).
    public var treeEdges: [[String]]? = nil
    /// Payload bytes each link of the tree carried over every operation (`AggregationTree.linkLoads`).
    public var links: [LinkLoad]? = nil
    /// Each rebuild of the job's tree after a lost switch, in order (nil or empty: none).
    public var recoveries: [RecoveryRecord]? = nil

    /// One recovery, timed from the fault: when the coordinator knew, when every rank had the new
    /// tree, and when the first operation completed after it (the retried one, or the next).
    public struct RecoveryRecord: Sendable, Codable, Equatable {
        /// The switch lost and how (`closed the connection`, `hung: no heartbeat for 1.0 s`).
        public var lost: String
        public var cause: String
        /// The tree epoch the job moved to.
        public var epoch: Int
        /// Seconds from the fault (a closed connection: when seen; a hang: the last beat heard) to
        /// the coordinator acting on it, to the resume, and to the next operation completed.
        public var detectedSeconds: Double
        public var resumedSeconds: Double?
        public var nextSuccessSeconds: Double?
        /// The interrupted operation and what its recovery did.
        public var opSeq: UInt64?
        public var chunksRecomputed: Int
        public var chunksShared: Int
        public var path: String
        public init(lost: String, cause: String, epoch: Int, detectedSeconds: Double, resumedSeconds: Double? = nil,
                    nextSuccessSeconds: Double? = nil, opSeq: UInt64? = nil, chunksRecomputed: Int = 0,
                    chunksShared: Int = 0, path: String = "") {
            self.lost = lost
            self.cause = cause
            self.epoch = epoch
            self.detectedSeconds = detectedSeconds
            self.resumedSeconds = resumedSeconds
            self.nextSuccessSeconds = nextSuccessSeconds
            self.opSeq = opSeq
            self.chunksRecomputed = chunksRecomputed
            self.chunksShared = chunksShared
            self.path = path
        }
    }

    public init(job: UInt32, jobName: String, worldSize: Int, tree: String, path: String, operations: [Operation],
                failure: String?, topology: String? = nil, treeEdges: [[String]]? = nil, links: [LinkLoad]? = nil,
                recoveries: [RecoveryRecord]? = nil) {
        self.recoveries = recoveries
        self.job = job
        self.jobName = jobName
        self.worldSize = worldSize
        self.tree = tree
        self.path = path
        self.operations = operations
        self.failure = failure
        self.topology = topology
        self.treeEdges = treeEdges
        self.links = links
    }

    public var succeeded: Bool { failure == nil && operations.allSatisfy { $0.bitExact != false } }

    /// A readable table: one row per (collective, size, dtype, op), times as medians over repeats.
    public func render() -> String {
        var lines: [String] = []
        lines.append("job \(jobName) (#\(job)): \(worldSize) ranks, \(path)")
        // Which transport ran and why, once per distinct reason; the table names only the transport.
        var reasons: [String] = []
        for op in operations where !reasons.contains(op.transport) { reasons.append(op.transport) }
        for reason in reasons { lines.append("data transport: \(reason)") }
        lines.append(pad("collective", 10) + pad("size", 10, right: true) + pad("count", 12, right: true)
                     + pad("type", 6, right: true) + pad("redop", 6, right: true) + pad("time(us)", 12, right: true)
                     + pad("algbw(GB/s)", 12, right: true) + pad("busbw(GB/s)", 12, right: true)
                     + pad("runs", 5, right: true) + "  bit-exact  ran")
        struct Key: Hashable { var c: Collective; var n: Int; var d: DType; var o: ReduceOp; var a: Algorithm }
        var order: [Key] = []
        var groups: [Key: [Operation]] = [:]
        for op in operations where op.measured {
            let k = Key(c: op.collective, n: op.count, d: op.dtype, o: op.op, a: op.algorithm)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(op)
        }
        for k in order {
            let ops = groups[k]!
            let times = ops.map(\.seconds).sorted()
            let median = times[times.count / 2]
            let bytes = k.n * k.d.size
            let algbw = median > 0 ? Double(bytes) / median / 1e9 : 0
            // nccl-tests' bus bandwidth: 2(n−1)/n for allreduce, (n−1)/n for reduce-scatter and all-gather.
            let n = Double(max(1, worldSize))
            let factor = worldSize <= 1 ? 1.0 : k.c == .allreduce ? 2 * (n - 1) / n : k.c.isBlockwise ? (n - 1) / n : 1.0
            let exact: String
            if ops.contains(where: { $0.bitExact == false }) {
                exact = "NO"
            } else if ops.allSatisfy({ $0.bitExact == true }) {
                exact = "yes"
            } else {
                exact = "unchecked"
            }
            lines.append(pad(k.c.description, 10) + pad(TopologyUnits.formatSize(bytes), 10, right: true)
                         + pad("\(k.n)", 12, right: true) + pad(k.d.name, 6, right: true)
                         + pad(k.c == .broadcast || k.c == .barrier ? "none" : k.o.name, 6, right: true)
                         + pad(String(format: "%.1f", median * 1e6), 12, right: true)
                         + pad(String(format: "%.3f", algbw), 12, right: true)
                         + pad(String(format: "%.3f", algbw * factor), 12, right: true)
                         + pad("\(ops.count)", 5, right: true) + "  " + pad(exact, 9) + "  "
                         + "\(Self.transportName(ops[0].transport)) "
                         + (ops[0].algorithm == .inNetwork
                            ? "in-network" + (ops[0].reductionProtocol.map { " (\($0))" } ?? "") : ops[0].path))
        }
        for op in operations where op.bitExact == false {
            lines.append("MISMATCH op #\(op.opSeq): \(op.detail)")
        }
        for op in operations where op.retried != nil {
            let exact = op.bitExact.map { $0 ? "bit-exact" : "WRONG" } ?? "unchecked"
            lines.append("RETRIED op #\(op.opSeq) (\(exact)): \(op.retried!)")
        }
        let checked = operations.filter { $0.bitExact != nil }.count
        let wrong = operations.filter { $0.bitExact == false }.count
        lines.append("\(operations.count) operations, \(checked) validated against the host replay, \(wrong) wrong")
        for r in recoveries ?? [] {
            func ms(_ s: Double?) -> String { s.map { String(format: "%.0f ms", $0 * 1000) } ?? "never" }
            lines.append("RECOVERED from \(r.lost) (\(r.cause)): noticed after \(ms(r.detectedSeconds)), ranks resumed "
                         + "after \(ms(r.resumedSeconds)), next operation done after \(ms(r.nextSuccessSeconds)); "
                         + "op #\(r.opSeq.map(String.init) ?? "-"): \(r.chunksRecomputed) chunks computed again, "
                         + "\(r.chunksShared) passed between ranks; now \(r.path)")
        }
        if let failure { lines.append("FAILED: \(failure)") }
        return lines.joined(separator: "\n")
    }
}

extension JobSummary {
    /// `rdma` from `rdma (auto: …), write-imm`: the transport's name before its reason.
    public static func transportName(_ transport: String) -> String {
        String(transport.prefix { $0 != " " && $0 != "(" && $0 != "," })
    }
}

private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    guard s.count < width else { return s + " " }
    let fill = String(repeating: " ", count: width - s.count)
    return right ? fill + s : s + fill
}
