import Foundation
import TributaryCore

/// A job's tree being rebuilt after a lost switch (docs/RELIABILITY.md): the new tree installed
/// level by level, every rank's answer to the query, the plan made from them and the chunks
/// fetched from holders for the ranks that lack them.
struct Recovery {
    var epoch: Int
    /// What was lost, in words: every retried operation's report carries it.
    var reason: String
    /// The tree operations ran on when the first of these losses struck.
    let oldTree: AggregationTree
    /// When the first loss was noticed (recovery time is measured from here).
    let started: ContinuousClock.Instant
    /// The level of the new tree being assigned (from 0); nil once it is installed (or the job
    /// went to the host ring).
    var installing: Int? = 0
    var states: [Int: RecoveryState] = [:]
    var plan: RecoveryPlan?
    /// Chunks asked of holders and not yet here, and those that came.
    var awaiting: Set<Int> = []
    var bytes: [Int: Data] = [:]
}

extension Coordinator {
    /// A switch is lost (its connection closed, or it went silent): every running job whose tree
    /// holds it is rebuilt without it; a job being assigned its tree starts that again without it;
    /// a job waiting for aggregators or resources goes on waiting (the tree is built when they
    /// come, or around them after `aggregatorWait`); a job whose ranks are connecting fails, naming it.
    /// `faultAt`: when the switch was last known well (a hang: its last beat).
    func switchLost(_ name: String, reason: String, faultAt: ContinuousClock.Instant = .now) {
        for job in Array(jobs.jobs) where !job.isOver && job.tree?.nodes[name] != nil {
            let why = "aggregator \(name) lost: \(reason)"
            if case .assigning = job.phase {
                reassemble(job, lost: name, reason: why)
            } else if job.phase == .waitingForAggregators || job.phase == .registering {
                continue
            } else if case .queued = job.phase {
                continue
            } else if job.phase == .running && job.fallbackReason == nil {
                job.recoveryLog.append(JobSummary.RecoveryRecord(lost: name, cause: reason, epoch: job.epoch + 1,
                                                                 detectedSeconds: (.now - faultAt).inSeconds))
                job.recoveriesAwaitingSuccess.append((job.recoveryLog.count - 1, faultAt, nil))
                recover(job, lost: name, reason: why)
            } else {
                fail(job, ErrorReport(kind: .peerLost, job: job.id, reporter: "coordinator", message: why))
            }
        }
    }

    /// The job was being assigned its tree: the switches that had it drop it, and the tree is built
    /// again without the lost switch (the ranks know nothing yet).
    private func reassemble(_ job: Job, lost name: String, reason: String) {
        job.epoch += 1  // acknowledgements of the abandoned assignment are not counted
        job.lostSwitches.insert(name)
        sendToSwitches(of: job, .jobEnded(JobEnded(job: job.id)))
        _ = resources.release(job: job.id)
        job.tree = nil
        job.pendingAcks = []
        job.phase = .waitingForAggregators
        logger.warning("job \(job.name): \(reason) while its tree was assigned; assigning a tree without it")
        tryAssign(job)
    }

    /// Switches silent past `switchSilence` while one of their jobs has an operation in flight are
    /// closed and handled as lost. (An idle fabric is not judged: a busy host may delay heartbeats.)
    func checkSilentSwitches(now: ContinuousClock.Instant) {
        // Only while the coordinator hears the other switches (they beat every 0.25 s), or with
        // no other switch its ranks (every 0.5 s): if the coordinator or the host was busy, every
        // switch looks silent at once and none is judged.
        let limit = configuration.switchSilence
        let workersHeard = peers.values.filter { $0.role == .worker }.map(\.lastHeard).max()
        for (name, entry) in aggregators {
            guard let peer = peers[entry.peer] else { continue }
            let others = aggregators.filter { $0.key != name }.compactMap { peers[$0.value.peer]?.lastHeard }
            guard let freshest = others.isEmpty ? workersHeard : others.max(), now - freshest < limit * 0.75 else {
                continue
            }
            let silence = now - peer.lastHeard
            guard silence > limit else { continue }
            let busy = jobs.jobs.contains { job in
                !job.isOver && job.phase == .running && job.tree?.nodes[name] != nil
                    && (job.recovery != nil || job.workerStatus.values.contains { $0.operation != nil })
            }
            guard busy else { continue }
            let why = String(format: "hung: no heartbeat for %.1f s (pid \(entry.pid))", silence.inSeconds)
            logger.warning("switch \(name) \(why); closing its connection")
            aggregators.removeValue(forKey: name)
            switchStatus.removeValue(forKey: name)
            peers.removeValue(forKey: entry.peer)
            peer.connection.close()
            switchLost(name, reason: why, faultAt: peer.lastHeard)
        }
    }

    /// Starts (or, if one is under way, restarts) rebuilding `job`'s tree without the switch lost.
    func recover(_ job: Job, lost name: String, reason: String) {
        guard let current = job.tree else { return }
        job.epoch += 1
        job.lostSwitches.insert(name)
        let previous = job.recovery
        var recovery = Recovery(epoch: job.epoch, reason: previous.map { "\($0.reason); \(reason)" } ?? reason,
                                oldTree: previous?.oldTree ?? current, started: previous?.started ?? .now)
        // The switches of the tree being left free the job's slots and close its connections.
        sendToSwitches(of: job, .jobEnded(JobEnded(job: job.id)))
        _ = resources.release(job: job.id)
        replayCache = replayCache.filter { $0.key.job != job.id }
        logger.warning("job \(job.name): \(reason); rebuilding its tree (epoch \(job.epoch))")
        // Ranks that said done and left cannot answer: they finished their last operation and keep nothing.
        for rank in 0..<job.worldSize where job.workers[rank] == nil {
            recovery.states[rank] = finishedState(job, rank: rank)
        }
        job.recovery = recovery
        let query = RecoveryQuery(job: job.id, epoch: job.epoch, reason: recovery.reason,
                                  lost: job.lostSwitches.sorted())
        for worker in job.workers.values { send(worker.peer, .recoveryQuery(query)) }
        installNewTree(job, after: reason)
    }

    private func finishedState(_ job: Job, rank: Int) -> RecoveryState {
        RecoveryState(job: job.id, rank: rank, epoch: job.epoch, opSeq: job.doneOps[rank] ?? 0, finished: true,
                      held: [], chunkCount: 0, collective: .allreduce, root: 0, retainedOp: 0, retained: [])
    }

    /// The tree without every switch lost (or without aggregator now), admitted and assigned; or
    /// the host ring when none is left.
    private func installNewTree(_ job: Job, after reason: String) {
        let hosts = job.recovery!.oldTree.hosts
        let absent = job.lostSwitches.union(resources.switchNames.filter { aggregators[$0] == nil })
        let note = "rebuilt without \(job.lostSwitches.sorted().joined(separator: ", ")): \(reason)"
        var fallback: String
        do {
            let tree = try treeBuilder.excluding(absent).build(hosts: hosts)
            switch resources.admit(job: job.id, switches: tree.aggregatorsTopDown, request: job.slotRequest) {
            case .granted(let grant) where (grant.slotsPerSwitch.values.min() ?? 0) >= job.streaming!.window:
                job.grant = grant.slotsPerSwitch
                job.tree = tree
                job.treeNote = note
                let plan = StreamingPlan(tree: tree, topology: configuration.topology, grant: grant.slotsPerSwitch,
                                         chunkBytes: configuration.chunkBytes, window: configuration.window,
                                         pathToRoot: nil)
                job.path = plan.path + " (\(note))"
                assignLevel(job, 0)
                return
            case .granted(let grant):
                _ = resources.release(job: job.id)
                fallback = "the new tree's switches grant \(grant.slotsPerSwitch.values.min() ?? 0) slots, "
                    + "fewer than the job's window of \(job.streaming!.window)"
            case .refused(let refusal):
                fallback = "admission: \(refusal)"
            }
        } catch {
            fallback = "no tree without \(absent.sorted().joined(separator: ", ")) (\(error))"
        }
        // No tree: the host ring takes the rest of the job (the chunk geometry stays the job's).
        useHostRing(job, reason: "\(reason); \(fallback)")
        job.recovery!.installing = nil
        advanceRecovery(job)
    }

    /// The new tree's level `level` has acknowledged: the next level, or the recovery goes on.
    /// Returns false when `job` is not installing a new tree at that level.
    func recoveryLevelAcknowledged(_ job: Job, level: Int, maxLevel: Int) -> Bool {
        guard job.recovery?.installing == level else { return false }
        if level < maxLevel {
            job.recovery!.installing = level + 1
            assignLevel(job, level + 1)
        } else {
            job.recovery!.installing = nil
            advanceRecovery(job)
        }
        return true
    }

    /// A rank's answer to the recovery query.
    func recoveryStateReported(_ job: Job, _ state: RecoveryState) {
        guard job.recovery?.epoch == state.epoch, !job.isOver else { return }
        job.recovery!.states[state.rank] = state
        advanceRecovery(job)
    }

    /// A rank that said done left during a recovery: it answers no more.
    func doneRankLeft(_ job: Job, rank: Int) {
        guard job.recovery != nil, job.recovery!.states[rank] == nil else { return }
        job.recovery!.states[rank] = finishedState(job, rank: rank)
        advanceRecovery(job)
    }

    /// A holder's chunk for the recovery; false if the message is not about one.
    func recoveryChunkArrived(_ job: Job, _ d: ChunkData) -> Bool {
        guard var recovery = job.recovery, let plan = recovery.plan, d.opSeq == plan.opSeq else { return false }
        for (k, bytes) in zip(d.chunks, d.bytes) where recovery.awaiting.contains(k) {
            recovery.awaiting.remove(k)
            recovery.bytes[k] = bytes
        }
        job.recovery = recovery
        advanceRecovery(job)
        return true
    }

    /// Moves the recovery on once the new tree is installed and every rank has answered: the plan,
    /// the chunks it needs from holders, then the resume.
    func advanceRecovery(_ job: Job) {
        guard var recovery = job.recovery, recovery.installing == nil, !job.isOver,
              recovery.states.count == job.worldSize else { return }
        if recovery.plan == nil {
            let plan: RecoveryPlan
            do {
                plan = try RecoveryPlan.make(states: recovery.states, worldSize: job.worldSize)
            } catch {
                fail(job, ErrorReport(kind: .peerLost, job: job.id, reporter: "coordinator",
                                      message: "\(recovery.reason); \(error)"))
                return
            }
            if job.fallbackReason != nil, !plan.recompute.isEmpty, !plan.decided.isEmpty, let op = plan.opSeq {
                fail(job, ErrorReport(kind: .peerLost, job: job.id, opSeq: op, reporter: "coordinator",
                                      message: "\(recovery.reason); op #\(op) has \(plan.recompute.count) chunks to "
                                          + "compute again and no aggregating switch left to compute them "
                                          + "(the host ring can only run an operation whole)"))
                return
            }
            recovery.plan = plan
            var asked: [Int: [Int]] = [:]
            for share in plan.shares where !share.needBytes.isEmpty {
                if let holder = share.holder { asked[holder, default: []].append(share.chunk) }
            }
            recovery.awaiting = Set(asked.values.joined())
            job.recovery = recovery
            for (holder, chunks) in asked.sorted(by: { $0.key < $1.key }) {
                guard let peer = job.workers[holder]?.peer, let op = plan.opSeq else { continue }
                send(peer, .fetchChunks(FetchChunks(job: job.id, opSeq: op, chunks: chunks)))
            }
        }
        guard recovery.awaiting.isEmpty, let plan = recovery.plan else { return }
        resume(job, recovery, plan)
    }

    /// Every rank gets what it lacks, then its place in the new tree; the replay learns which tree
    /// computed what.
    private func resume(_ job: Job, _ recovery: Recovery, _ plan: RecoveryPlan) {
        let op = plan.opSeq ?? 0
        for share in plan.shares {
            guard let holder = share.holder, let bytes = recovery.bytes[share.chunk] else { continue }
            for rank in share.needBytes {
                guard let peer = job.workers[rank]?.peer else { continue }
                send(peer, .chunkData(ChunkData(job: job.id, opSeq: op, rank: holder, chunks: [share.chunk],
                                                bytes: [bytes])))
            }
        }
        for (rank, worker) in job.workers.sorted(by: { $0.key < $1.key }) {
            let shared = plan.shares.filter { $0.lacking.contains(rank) }.map(\.chunk)
            send(worker.peer, .recoveryResume(RecoveryResume(
                job: job.id, epoch: recovery.epoch, assignment: workerAssignment(job, rank: rank), opSeq: op,
                recompute: plan.recompute, shared: shared, reason: recovery.reason)))
        }
        // Operations before the interrupted one ran on the old tree, and so did the chunks of it
        // that some rank held; the rest runs on the new one.
        let lastStarted = recovery.states.values.map(\.opSeq).max() ?? 0
        job.earlierTrees.append((untilOp: plan.opSeq ?? lastStarted + 1, tree: recovery.oldTree))
        if let seq = plan.opSeq {
            for k in plan.decided where job.chunkTrees[seq]?[k] == nil {
                job.chunkTrees[seq, default: [:]][k] = recovery.oldTree
            }
        }
        job.recovery = nil
        let now = ContinuousClock.now
        for (i, pending) in job.recoveriesAwaitingSuccess.enumerated() where pending.resumedAt == nil {
            job.recoveriesAwaitingSuccess[i].resumedAt = now
            job.recoveryLog[pending.index].resumedSeconds = (now - pending.faultAt).inSeconds
            job.recoveryLog[pending.index].opSeq = plan.opSeq
            job.recoveryLog[pending.index].chunksRecomputed = plan.recompute.count
            job.recoveryLog[pending.index].chunksShared = plan.shares.count
            job.recoveryLog[pending.index].path = job.path
        }
        let seconds = (ContinuousClock.now - recovery.started).inSeconds
        metrics?.recovered(seconds: seconds)
        let ms = String(format: "%.0f", seconds * 1000)
        logger.notice("job \(job.name) recovered in \(ms) ms (epoch \(recovery.epoch)): \(job.path); op #\(op): \(plan.recompute.count) chunks computed again, \(plan.shares.count) passed from ranks that held them")
    }

    /// A recovery that has not finished within the assembly timeout fails the job, naming who is missing.
    func checkRecoveryTimeout(_ job: Job, now: ContinuousClock.Instant) {
        guard let recovery = job.recovery, now - recovery.started > configuration.assemblyTimeout else { return }
        var missing: [String] = []
        if recovery.installing != nil { missing.append("switches \(job.pendingAcks.sorted().joined(separator: ", ")) never acknowledged") }
        let silent = (0..<job.worldSize).filter { recovery.states[$0] == nil }
        if !silent.isEmpty { missing.append("ranks \(RankList.format(silent)) never answered") }
        if !recovery.awaiting.isEmpty { missing.append("chunks \(recovery.awaiting.sorted()) never came from their holders") }
        fail(job, ErrorReport(kind: .timeout, job: job.id, ranks: silent, reporter: "coordinator",
                              message: "\(recovery.reason); the recovery did not finish in "
                                  + "\(configuration.assemblyTimeout): \(missing.joined(separator: "; "))"))
    }
}
