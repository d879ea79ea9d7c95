import TributaryCore

/// What the coordinator shows of the fabric: metrics, the live status `tributary status` reads,
/// and the diagnosis that explains a stall from the heartbeats.
extension Coordinator {
    /// Connections by role, jobs by phase, slots granted per switch: set on every tick.
    func updateGauges() {
        guard let metrics else { return }
        for role in [Role.aggregator, .worker, .client] {
            metrics.gauge("tributary_connections", [("role", role.rawValue)], peers.values.count { $0.role == role })
        }
        metrics.gauge("tributary_connections", [("role", "unauthenticated")], peers.values.count { $0.role == nil })
        for phase in ["registering", "waiting for aggregators", "queued", "assembling", "running", "recovering", "failed"] {
            let count = jobs.jobs.count { $0.shownPhase == phase }
            metrics.gauge("tributary_jobs", [("phase", phase)], count)
        }
        for name in resources.switchNames {
            guard let usage = resources.usage(switch: name) else { continue }
            metrics.gauge("tributary_switch_slots", [("switch", name)], usage.slots)
            metrics.gauge("tributary_switch_slots_granted", [("switch", name)], usage.slotsHeld)
            metrics.gauge("tributary_switch_registered", [("switch", name)], aggregators[name] == nil ? 0 : 1)
        }
    }

    func recordMetrics(_ job: Job, _ record: OpRecord, outcome: String) {
        guard let metrics else { return }
        let path: String
        switch record.first.algorithm {
        case .inNetwork: path = "in-network"
        case .ring: path = job.fallbackReason == nil ? "ring" : "ring-fallback"
        }
        metrics.operation(job: job.name, collective: record.first.collective, path: path, outcome: outcome,
                          seconds: record.reports.values.map(\.seconds).max() ?? 0)
        if record.reports.values.contains(where: { $0.retried != nil }) { metrics.retried() }
    }

    /// A timeout, restated with its cause when the heartbeats show one.
    func explained(_ job: Job, _ report: ErrorReport) -> ErrorReport {
        guard report.kind == .timeout || report.kind == .internalError, let diagnosis = diagnose(job),
              let cause = diagnosis.cause else { return report }
        var ranks = report.ranks
        if let tree = job.tree, !diagnosis.culpritSwitches.isEmpty {
            ranks = diagnosis.culpritSwitches.flatMap { tree.ranks(underNode: $0) }
        } else if !diagnosis.culpritRanks.isEmpty {
            ranks = diagnosis.culpritRanks
        }
        return ErrorReport(kind: .timeout, job: report.job, opSeq: report.opSeq, ranks: Array(Set(ranks)).sorted(),
                           reporter: "coordinator", message: "\(cause) (\(report.reporter) reported: \(report.message))")
    }

    /// What the heartbeats say about a job now; nil before it has a tree.
    func diagnose(_ job: Job) -> StallDiagnosis? {
        guard let tree = job.tree else { return nil }
        let now = ContinuousClock.now
        var switches: [String: StallDiagnosis.SwitchReport] = [:]
        if !tree.isHostRing {
            for name in tree.aggregatorsTopDown {
                guard let entry = aggregators[name] else {
                    switches[name] = StallDiagnosis.SwitchReport(status: nil, silentFor: nil)
                    continue
                }
                let heard = peers[entry.peer].map { (now - $0.lastHeard).inSeconds }
                switches[name] = StallDiagnosis.SwitchReport(
                    status: switchStatus[name]?.jobs.first { $0.job == job.id }, silentFor: heard ?? 0, pid: entry.pid)
            }
        }
        var ranks: [Int: StallDiagnosis.RankReport] = [:]
        for (rank, worker) in job.workers {
            let heard = peers[worker.peer].map { (now - $0.lastHeard).inSeconds } ?? 0
            ranks[rank] = StallDiagnosis.RankReport(status: job.workerStatus[rank], silentFor: heard, host: worker.host,
                                                    pid: worker.pid)
        }
        return StallDiagnosis(job: job.name, tree: tree, switches: switches, ranks: ranks)
    }

    /// The fabric now, for `tributary status`: switches and their heartbeats, jobs, operations in
    /// flight and the diagnosis of any that stall.
    func liveStatus() -> LiveStatus {
        let now = ContinuousClock.now
        let switches = resources.switchNames.map { name -> LiveStatus.SwitchState in
            let entry = aggregators[name]
            let heard = entry.flatMap { peers[$0.peer] }.map { (now - $0.lastHeard).inSeconds }
            let status = switchStatus[name]
            return LiveStatus.SwitchState(name: name, registered: entry != nil, silentSeconds: heard,
                                          jobs: status?.jobs.count ?? 0,
                                          slotsInUse: status?.jobs.reduce(0) { $0 + $1.slotsInUse } ?? 0, pid: entry?.pid)
        }
        let jobStates = jobs.jobs.sorted { $0.created < $1.created }.map { job -> LiveStatus.JobState in
            var silent: [Int: Double] = [:]
            for (rank, worker) in job.workers {
                if let peer = peers[worker.peer], (now - peer.lastHeard).inSeconds >= StallDiagnosis.silence {
                    silent[rank] = (now - peer.lastHeard).inSeconds
                }
            }
            var ops: [UInt64: LiveStatus.Operation] = [:]
            for (rank, status) in job.workerStatus {
                guard let p = status.operation else { continue }
                var op = ops[p.opSeq] ?? LiveStatus.Operation(opSeq: p.opSeq, collective: p.collective, seconds: 0,
                                                              ranksIn: [], ranksNotIn: [])
                op.seconds = max(op.seconds, p.seconds)
                op.ranksIn.append(rank)
                ops[p.opSeq] = op
            }
            let inFlight = ops.keys.sorted().map { seq -> LiveStatus.Operation in
                var op = ops[seq]!
                op.ranksIn.sort()
                op.ranksNotIn = (0..<job.worldSize).filter { !op.ranksIn.contains($0) }
                return op
            }
            let info = job.info(now: now)
            let diagnosis = job.phase == .running && !job.isOver ? diagnose(job) : nil
            return LiveStatus.JobState(id: job.id, name: job.name, phase: info.phase, ranks: job.worldSize,
                                       path: info.path, operations: job.completedCount, treeEdges: job.tree?.edges ?? [],
                                       silentRanks: silent, inFlight: inFlight,
                                       diagnosis: (diagnosis?.lines ?? []) + (diagnosis?.cause.map { ["cause: \($0)"] } ?? []))
        }
        let links = LinkLoad.merged(switchStatus.keys.sorted().flatMap { switchStatus[$0]!.links })
        return LiveStatus(topology: configuration.topology.name, switches: switches, jobs: jobStates, links: links)
    }
}
