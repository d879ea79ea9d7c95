/// Who a stalled job waits for, from the latest heartbeats of its switches and ranks: which
/// switch waits for which child, which ranks have not contributed, who has gone silent, and the
/// likely cause — a silent switch named as the switch, a silent rank as the rank. Pure: the
/// coordinator gathers the heartbeats, `status` and the stall report print the lines.
public struct StallDiagnosis: Sendable, Equatable {
    /// What one switch of the job's tree last said, and how long ago.
    public struct SwitchReport: Sendable {
        public var status: AggregatorStatus.JobStatus?
        /// Seconds since its last heartbeat; nil when it never registered.
        public var silentFor: Double?
        public var pid: Int32?
        public init(status: AggregatorStatus.JobStatus?, silentFor: Double?, pid: Int32? = nil) {
            self.status = status
            self.silentFor = silentFor
            self.pid = pid
        }
    }

    /// What one rank last said, and how long ago.
    public struct RankReport: Sendable {
        public var status: WorkerStatus?
        public var silentFor: Double
        public var host: String
        public var pid: Int32
        public init(status: WorkerStatus?, silentFor: Double, host: String, pid: Int32) {
            self.status = status
            self.silentFor = silentFor
            self.host = host
            self.pid = pid
        }
    }

    /// One line per finding, in the order a reader needs them.
    public var lines: [String]
    /// The most likely cause, when one stands out (a silent switch, a silent rank, ranks that
    /// never called the operation).
    public var cause: String?
    /// The switches and ranks the cause names.
    public var culpritSwitches: [String]
    public var culpritRanks: [Int]

    /// A peer silent this long is named as not responding.
    public static let silence = AggregatorStatus.silence.inSeconds
    /// A wait shorter than this is normal traffic, not a stall.
    public static let stall = 1.0

    public init(job: String, tree: AggregationTree, switches: [String: SwitchReport], ranks: [Int: RankReport],
                silence: Double = StallDiagnosis.silence, stall: Double = StallDiagnosis.stall) {
        var lines: [String] = []
        var cause: [String] = []
        var culpritSwitches: [String] = []
        var culpritRanks: [Int] = []
        let inTree = tree.isHostRing ? [] : tree.aggregatorsTopDown
        // Silent switches first: a hung switch is the cause of everything waiting above and below it.
        for name in inTree.reversed() {
            guard let report = switches[name] else { continue }
            if let silent = report.silentFor, silent >= silence {
                let pid = report.pid.map { " (pid \($0))" } ?? ""
                let text = "switch \(name)\(pid) is not responding: no heartbeat for \(Self.seconds(silent))"
                lines.append(text)
                cause.append(text)
                culpritSwitches.append(name)
            } else if report.silentFor == nil {
                let text = "switch \(name) has no aggregator registered"
                lines.append(text)
                cause.append(text)
                culpritSwitches.append(name)
            }
        }
        let silentRanks = ranks.keys.sorted().filter { ranks[$0]!.silentFor >= silence }
        for rank in silentRanks {
            let r = ranks[rank]!
            lines.append("rank \(rank) (host \(r.host), pid \(r.pid)) is not responding: no heartbeat for "
                         + Self.seconds(r.silentFor))
        }
        if cause.isEmpty && !silentRanks.isEmpty {
            cause.append("rank\(silentRanks.count == 1 ? "" : "s") \(RankList.format(silentRanks)) not responding")
            culpritRanks = silentRanks
        }
        // Who waits for whom, per operation, bottom-up so the chain reads from the cause.
        var waitsByOp: [UInt64: [String]] = [:]
        var firstChunk: [UInt64: UInt32] = [:]
        var waitingRanks: Set<Int> = []
        for name in inTree.reversed() {
            guard let status = switches[name]?.status else { continue }
            if let wait = status.waits.first(where: { $0.seconds >= stall }) {
                let hosts = Set(tree.nodes[name]?.children.compactMap { child -> String? in
                    if case .worker(let rank) = child, rank < tree.hosts.count { return tree.hosts[rank] }
                    return nil
                } ?? [])
                let switchesMissing = wait.missing.filter { !hosts.contains($0) }
                let ranksMissing = wait.missingRanks.filter { rank in
                    rank < tree.hosts.count && tree.leaf(ofRank: rank) == name
                }
                waitingRanks.formUnion(ranksMissing)
                var who: [String] = []
                if !ranksMissing.isEmpty {
                    who.append("rank\(ranksMissing.count == 1 ? "" : "s") \(RankList.format(ranksMissing))")
                }
                who += switchesMissing
                waitsByOp[wait.opSeq, default: []].append("\(name) waits for \(who.joined(separator: ", ")) "
                                                           + "(\(Self.seconds(wait.seconds)))")
                if firstChunk[wait.opSeq] == nil { firstChunk[wait.opSeq] = wait.chunk }
            }
            if let up = status.awaitingParent, up.seconds >= stall {
                waitsByOp[up.opSeq, default: []].append("\(name) waits for \(up.parent)'s result of chunk \(up.chunk) "
                                                         + "(\(Self.seconds(up.seconds)))")
                if firstChunk[up.opSeq] == nil { firstChunk[up.opSeq] = up.chunk }
            }
        }
        for op in waitsByOp.keys.sorted() {
            lines.append("job \(job) op \(op) chunk \(firstChunk[op]!): " + waitsByOp[op]!.joined(separator: "; "))
        }
        // Ranks in an operation others have not started: the ones that never called it.
        var opsInFlight: [UInt64: (collective: Collective, seconds: Double, ranks: [Int])] = [:]
        for (rank, report) in ranks {
            guard let progress = report.status?.operation else { continue }
            var entry = opsInFlight[progress.opSeq] ?? (progress.collective, 0, [])
            entry.seconds = max(entry.seconds, progress.seconds)
            entry.ranks.append(rank)
            opsInFlight[progress.opSeq] = entry
        }
        for op in opsInFlight.keys.sorted() {
            let entry = opsInFlight[op]!
            guard entry.seconds >= stall else { continue }
            let notIn = ranks.keys.sorted().filter { !entry.ranks.contains($0) && !silentRanks.contains($0) }
            let waitingFor = Set(entry.ranks.compactMap { ranks[$0]?.status?.operation?.waitingFor }).sorted()
            lines.append("op \(op) (\(entry.collective)): ranks \(RankList.format(entry.ranks.sorted())) in it for up to "
                         + "\(Self.seconds(entry.seconds)), waiting for \(waitingFor.joined(separator: ", "))")
            let behind = notIn.filter { rank in
                guard let theirs = ranks[rank]?.status?.operation?.opSeq else { return true }
                return theirs < op
            }
            if !behind.isEmpty {
                lines.append("rank\(behind.count == 1 ? "" : "s") \(RankList.format(behind)) \(behind.count == 1 ? "has" : "have") "
                             + "not started op \(op)")
                if cause.isEmpty {
                    cause.append("rank\(behind.count == 1 ? "" : "s") \(RankList.format(behind)) never called op \(op) "
                                 + "(\(entry.collective))")
                    culpritRanks = behind
                }
            }
        }
        if cause.isEmpty && !waitingRanks.isEmpty {
            let missing = waitingRanks.sorted()
            cause.append("waiting for rank\(missing.count == 1 ? "" : "s") \(RankList.format(missing))")
            culpritRanks = missing
        }
        self.lines = lines
        self.cause = cause.isEmpty ? nil : cause.joined(separator: "; ")
        self.culpritSwitches = culpritSwitches
        self.culpritRanks = culpritRanks
    }

    static func seconds(_ s: Double) -> String {
        let tenths = (s * 10).rounded() / 10
        return "\(tenths) s"
    }
}
