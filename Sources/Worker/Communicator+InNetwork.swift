import Authentication
import Foundation
import Transport
import TributaryCore

extension Communicator {
    /// Where one in-network operation stands in a recovery (docs/RELIABILITY.md).
    private enum RecoveryStage {
        /// Streaming to the leaf.
        case streaming
        /// A recovery query came: nothing more is sent; results the old leaf still delivers are
        /// taken until its connection ends (or `until`, when this rank closes it itself).
        case draining(until: ContinuousClock.Instant, closed: Bool)
        /// The state is reported; shared chunks and the new tree are awaited.
        case awaitingResume
    }

    /// How long a rank lets the old leaf deliver what it has before closing the connection itself,
    /// and how long it then waits for the close to show.
    static let drainGrace = Duration.milliseconds(500)
    /// A leaf connection that ended while nobody said why: the coordinator either starts a
    /// recovery or fails the job; if it says nothing for this long, the operation fails.
    static let leafLossGrace = Duration.seconds(10)

    /// Streams chunks up to the leaf with a window of credits and places results as they come down.
    /// A lost switch does not end it: the coordinator's recovery query stops it, it says which
    /// results it holds, and it goes on in the new tree with the chunks nobody holds — or, on a
    /// rank already past the interrupted operation, starts this one again.
    func runInNetwork(_ call: Call, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?,
                      results: ResultChunks) async throws -> (sent: Int, received: Int, retried: String?) {
        // No leaf connection: a new leaf refused it (the tree moved on again); the recovery query says what next.
        guard data != nil || leafEnded != nil else {
            throw WorkerError.invalidArgument("no leaf aggregator for in-network operations")
        }
        let (collective, dtype, count, seq) = (call.collective, call.dtype, call.count, call.seq)
        let size = dtype.size
        let per = assignment.streaming.chunkElements(dtype)
        let chunks = assignment.streaming.chunkCount(count: count, dtype: dtype)
        let window = max(1, assignment.streaming.window)
        let job = assignment.job
        var template = ChunkHeader(
            job: job, origin: UInt32(rank), opSeq: seq, totalCount: UInt64(count), elementOffset: 0,
            chunkIndex: 0, chunkCount: UInt32(chunks), elementCount: 0, collective: collective, dtype: dtype,
            op: call.op, flags: [], root: UInt32(call.root), payloadLength: 0)
        var bytesSent = 0
        var bytesReceived = 0
        let observer = configuration.observer
        // Faults on this host's link to its leaf (a rank that does not know its host has none).
        let faults = configuration.host == nil ? nil : configuration.faults
        let layout = results.layout
        func elements(_ k: Int) -> Int { min(per, count - k * per) }
        // An all-gather sends from the receive buffer: `run` put this rank's block there, and the
        // rest of each chunk it owns part of is zeroed below.
        let input: UnsafeRawPointer? = collective == .allGather ? recv.map { UnsafeRawPointer($0) } : send
        if collective == .allGather, let recv, count > 0, call.root > 0 {
            let block = layout.block
            for k in layout.geometry.chunks(overlapping: block) {
                let lo = k * per, hi = lo + elements(k)
                if lo < block.lowerBound { memset(recv + lo * size, 0, (block.lowerBound - lo) * size) }
                if hi > block.upperBound { memset(recv + block.upperBound * size, 0, (hi - block.upperBound) * size) }
            }
        }
        func sendChunk(_ k: Int) {
            let offset = k * per
            let leaf = assignment.leaf
            let contributes = layout.contributes(k, call.contributes)
            template.chunkIndex = UInt32(k)
            template.elementOffset = UInt64(offset)
            template.elementCount = UInt32(elements(k))
            let bytes = contributes ? elements(k) * size : 0
            template.flags = contributes ? [] : [.empty]
            template.payloadLength = UInt32(bytes)
            let payload = UnsafeRawBufferPointer(start: bytes == 0 ? nil : input! + offset * size, count: bytes)
            if let faults, let host = configuration.host {
                switch injectFaults(faults, from: host, header: template, payload: payload) {
                case .untouched:
                    break
                case .dropped:
                    progress.sent()
                    return
                case .sent:
                    observer?.observe(.chunkSent(job: job, opSeq: seq, chunk: UInt32(k), to: leaf, direction: .up,
                                                 bytes: bytes))
                    progress.sent()
                    bytesSent += bytes
                    return
                }
            }
            observer?.observe(.chunkSent(job: job, opSeq: seq, chunk: UInt32(k), to: leaf, direction: .up, bytes: bytes))
            progress.sent()
            bytesSent += bytes
            if contributes {
                data?.sendChunk(template, payload: payload)
            } else {
                data?.send(.chunk(template, payload: []))
            }
        }
        // Results land straight in the receive buffer when the transport can place them (one copy
        // fewer, as RDMA would); anything that does not match this call falls back to arrays. On
        // the low-latency path the result is one small frame, copied out of it.
        let placed = PlacementLog()
        let places = call.receives && count > 0 && call.reductionProtocol == .streaming
        func placeResults() {
            guard places, let recv else { return }
            let base = Int(bitPattern: recv)
            data?.setPlacement { h in
                guard h.job == job, h.opSeq == seq, h.flags == [.result], h.dtype == dtype,
                      h.collective == collective, Int(h.chunkIndex) < chunks else { return nil }
                let k = Int(h.chunkIndex)
                let offset = k * per
                let elements = min(per, count - offset)
                guard Int(h.elementOffset) == offset, Int(h.elementCount) == elements,
                      Int(h.payloadLength) == elements * size, let at = layout.directOffset(k) else { return nil }
                placed.insert(k)
                return UnsafeMutableRawPointer(bitPattern: base)! + at
            }
        }
        placeResults()
        defer { if places { data?.setPlacement(nil) } }

        var lastProgress = ContinuousClock.now
        var done = [Bool](repeating: false, count: chunks)
        var received = 0
        /// Receipt order (the retention keeps its tail).
        var receipts: [Int] = []
        receipts.reserveCapacity(chunks)
        var toSend = Array(0..<chunks)
        var nextToSend = 0
        var outstanding = 0
        var stage = RecoveryStage.streaming
        var leafEndedAt = leafEnded
        var retried: String?
        var sharedArrived: Set<Int> = []
        func fill() {
            while outstanding < window && nextToSend < toSend.count {
                sendChunk(toSend[nextToSend])
                nextToSend += 1
                outstanding += 1
            }
        }
        /// The old leaf is done with: what this rank holds goes to the coordinator.
        func reportState() {
            data?.setPlacement(nil)
            data?.close()
            data = nil
            leafGeneration += 1
            // A chunk begun but not delivered was cut off mid-placement; in place, its input is gone.
            // (An all-gather's is not: a chunk is placed over its own input with the same block
            // and other ranks' blocks where zeros were, which an OR with those blocks leaves as it is.)
            var damaged: [Int] = []
            if let send, let recv, collective != .allGather {
                let overlaps = { (k: Int) -> Bool in
                    guard let at = layout.directOffset(k) else { return false }
                    let lo = k * per * size, bytes = elements(k) * size
                    let s = Int(bitPattern: send) + lo, r = Int(bitPattern: recv) + at
                    return s < r + bytes && r < s + bytes
                }
                damaged = placed.snapshot.filter { !done[$0] && overlaps($0) }.sorted()
            }
            stage = .awaitingResume
            lastProgress = .now
            control.send(.control(.recoveryState(RecoveryState(
                job: job, rank: rank, epoch: recoveryEpoch, opSeq: seq, finished: false,
                held: done.indices.filter { done[$0] }, chunkCount: chunks, collective: collective, root: call.root,
                retainedOp: retention.opSeq, retained: retention.retained, damaged: damaged, chunkElements: per))))
        }

        fill()
        while received < chunks || !isStreaming(stage) {
            guard let event = await events.next() else { throw WorkerError.coordinatorLost("event stream ended") }
            switch event {
            case .data(.chunk(let h, let payload), let leaf):
                guard leaf == leafGeneration else { continue }  // the leaf before a recovery
                guard h.flags.contains(.result), h.job == job, h.opSeq == seq,
                      Int(h.chunkIndex) < chunks, !done[Int(h.chunkIndex)] else {
                    throw WorkerError.protocolViolation("rank \(rank): unexpected chunk from \(assignment.leaf): \(h)")
                }
                let k = Int(h.chunkIndex)
                guard Int(h.elementCount) == elements(k), h.dtype == dtype, h.collective == collective else {
                    throw WorkerError.protocolViolation("rank \(rank): result chunk \(k) does not match the call: \(h)")
                }
                if !h.flags.contains(.empty) && elements(k) > 0 {
                    guard results.receives(k) else {
                        throw WorkerError.protocolViolation("rank \(rank): got data for chunk \(k) it does not receive")
                    }
                    if payload.count == Int(h.payloadLength) {
                        guard payload.count == elements(k) * size else {
                            throw WorkerError.protocolViolation("rank \(rank): result chunk \(k) carries "
                                                                + "\(payload.count) bytes, expected \(elements(k) * size)")
                        }
                        payload.withUnsafeBytes { results.store(k, $0) }
                    } // else: the transport already placed it in `recv`.
                    bytesReceived += Int(h.payloadLength)
                } else if results.receives(k) && elements(k) > 0 {
                    throw WorkerError.protocolViolation("rank \(rank): result chunk \(k) came without data")
                }
                done[k] = true
                receipts.append(k)
                received += 1
                outstanding -= 1
                lastProgress = ContinuousClock.now
                observer?.observe(.resultArrived(job: h.job, opSeq: seq, chunk: h.chunkIndex, from: assignment.leaf,
                                                 bytes: Int(h.payloadLength)))
                progress.received()
                if isStreaming(stage) { fill() }
            case .dataEnded(let why, let leaf):
                guard leaf == leafGeneration else { continue }
                if case .draining = stage {
                    reportState()
                } else {
                    // The leaf may be the switch that was lost: the coordinator says what happens next.
                    leafEndedAt = (.now, why)
                    leafEnded = leafEndedAt
                }
            case .control(.recoveryQuery(let q)) where q.job == job && q.epoch > recoveryEpoch:
                recoveryEpoch = q.epoch
                // A second loss in the same operation adds its reason (a restarted recovery's already holds the first).
                if let earlier = retried, !q.reason.hasPrefix(earlier) {
                    retried = "\(earlier); \(q.reason)"
                } else {
                    retried = q.reason
                }
                logger.notice("rank \(rank) op #\(seq): recovery \(q.epoch): \(q.reason)")
                switch stage {
                case .awaitingResume:
                    reportState()
                case .streaming, .draining:
                    if leafEndedAt != nil {
                        reportState()
                    } else if q.lost.contains(assignment.leaf) {
                        // A lost leaf (hung) delivers nothing more: close at once, take what was complete.
                        data?.close()
                        stage = .draining(until: .now + Self.drainGrace, closed: true)
                    } else {
                        stage = .draining(until: .now + Self.drainGrace, closed: false)
                    }
                }
            case .control(.chunkData(let d)) where d.job == job && d.opSeq == seq:
                guard case .awaitingResume = stage else { continue }
                for (k, bytes) in zip(d.chunks, d.bytes) {
                    guard k >= 0, k < chunks, results.receives(k), bytes.count == elements(k) * size else {
                        throw WorkerError.protocolViolation("rank \(rank): shared chunk \(k) of op #\(seq) does not fit")
                    }
                    bytes.withUnsafeBytes { results.store(k, $0) }
                    sharedArrived.insert(k)
                }
            case .control(.fetchChunks(let f)) where f.job == job && f.opSeq == seq:
                answerFetch(f) { k in
                    guard k >= 0, k < chunks, done[k] else { return nil }
                    return results.data(k)
                }
            case .control(.recoveryResume(let r)) where r.job == job && r.epoch == recoveryEpoch:
                guard case .awaitingResume = stage else { continue }
                try await switchLeaf(to: r.assignment)
                if r.opSeq == seq {
                    for k in r.shared where k >= 0 && k < chunks && !done[k] {
                        if results.receives(k) && elements(k) > 0 && !sharedArrived.contains(k) {
                            throw WorkerError.protocolViolation("rank \(rank) op #\(seq): shared chunk \(k) never came")
                        }
                        done[k] = true
                        receipts.append(k)
                        progress.received()
                    }
                    for k in r.recompute where k >= 0 && k < chunks { done[k] = false }
                } else if r.opSeq < seq && !done.contains(true) {
                    // This rank was past the interrupted operation: its own starts again, whole.
                } else {
                    throw WorkerError.protocolViolation("rank \(rank) op #\(seq): resume names op #\(r.opSeq)")
                }
                toSend = done.indices.filter { !done[$0] }
                if !toSend.isEmpty && r.assignment.fallbackReason != nil {
                    guard toSend.count == chunks else {
                        throw WorkerError.protocolViolation("rank \(rank) op #\(seq): part of the operation to "
                                                            + "compute again, and no tree to compute it")
                    }
                    throw RestartOnRing(reason: r.reason)
                }
                if r.opSeq == seq && !Set(toSend).isSubset(of: Set(r.recompute)) {
                    throw WorkerError.protocolViolation("rank \(rank) op #\(seq): resume leaves chunks "
                                                        + "\(RankList.format(toSend)) neither held nor sent again")
                }
                received = chunks - toSend.count
                nextToSend = 0
                outstanding = 0
                sharedArrived = []
                leafEndedAt = leafEnded
                stage = .streaming
                lastProgress = .now
                placeResults()
                fill()
            case .tick:
                let now = ContinuousClock.now
                if case .draining(let until, let closed) = stage, now > until {
                    if !closed {
                        // The old leaf did not end the connection (a hung switch): end it here, and
                        // take what was complete before the close.
                        data?.close()
                        stage = .draining(until: now + Self.drainGrace, closed: true)
                    } else {
                        reportState()
                    }
                }
                if case .streaming = stage, let (since, why) = leafEndedAt, now - since > Self.leafLossGrace {
                    throw WorkerError.leafLost(leaf: assignment.leaf, reason: why)
                }
                if now - lastProgress > configuration.operationTimeout {
                    let missing = done.indices.filter { !done[$0] }
                    let waiting = isStreaming(stage) ? "no result from \(assignment.leaf)" : "no word of the recovery"
                    throw WorkerError.timeout("rank \(rank) op #\(seq) \(collective): \(waiting) "
                        + "for \(configuration.operationTimeout); \(missing.count) of \(chunks) chunks missing "
                        + "(first: \(missing.prefix(8).map(String.init).joined(separator: ",")))")
                }
            default:
                try handleOther(event)
            }
        }
        lastInNetworkOp = (seq, chunks, collective, call.root)
        retention.keep(opSeq: seq, last: receipts.suffix(window), bytes: results.bytes)
        return (bytesSent, bytesReceived, retried)
    }

    private func isStreaming(_ stage: RecoveryStage) -> Bool {
        if case .streaming = stage { return true }
        return false
    }

    /// Leaves the current leaf for the one `assignment` names (none, on the host-ring fallback).
    func switchLeaf(to newAssignment: WorkerAssignment) async throws {
        data?.setPlacement(nil)
        data?.close()
        data = nil
        leafDelayLine?.cancel()
        leafDelayLine = nil
        leafGeneration += 1
        leafEnded = nil
        var next = newAssignment
        next.streaming = assignment.streaming  // the chunk geometry of a job never changes
        assignment = next
        guard next.fallbackReason == nil else { return }
        guard let key = try? AuthKey(hex: next.jobKey) else {
            throw WorkerError.protocolViolation("rank \(rank): the new assignment's job key is malformed")
        }
        do {
            let (leaf, inbound) = try await Handshake.open(
                next.leafEndpoint, over: dataTransport,
                hello: Hello(role: .worker, name: "rank \(rank)", job: next.job, childIndex: next.childIndex),
                key: key, timeout: configuration.helloTimeout)
            let generation = leafGeneration
            pumps.append(Self.pump(leaf, inbound, eventSink, wrap: { .data($0, leaf: generation) },
                                   end: { .dataEnded($0, leaf: generation) }))
            data = leaf
            for buffer in registeredBuffers { _ = try? leaf.register(buffer) }
            logger.notice("rank \(rank) now sends to \(next.leaf): \(next.path)")
        } catch {
            // The new leaf may be lost already, or have left the job for a newer tree: the
            // coordinator's next query says what next; the operation fails if none comes
            // (`leafLossGrace`).
            logger.notice("rank \(rank): cannot join \(next.leaf): \(error)")
            leafEnded = (.now, "cannot join \(next.leaf): \(error)")
        }
    }

    /// What this rank answers a recovery query with when it is in no in-network operation: its
    /// last in-network operation finished, and the chunks of it that it keeps.
    func reportStateBetweenOperations(_ q: RecoveryQuery) {
        guard q.job == assignment.job, q.epoch > recoveryEpoch else { return }
        recoveryEpoch = q.epoch
        let last = lastInNetworkOp
        control.send(.control(.recoveryState(RecoveryState(
            job: q.job, rank: rank, epoch: q.epoch, opSeq: last?.opSeq ?? 0, finished: true, held: [],
            chunkCount: last?.chunks ?? 0, collective: last?.collective ?? .allreduce, root: last?.root ?? 0,
            retainedOp: retention.opSeq, retained: retention.retained))))
    }

    /// Chunks asked for outside an operation: from what the retention keeps (empty if it does not).
    func answerFetchFromRetention(_ f: FetchChunks) {
        answerFetch(f) { retention.bytes(op: f.opSeq, chunk: $0) }
    }

    /// Answers a fetch one chunk per message (a control frame holds a few MiB; a fetch may ask a
    /// window's worth): `bytes(k)` is chunk k's result, nil (sent empty) when this rank lacks it.
    func answerFetch(_ f: FetchChunks, bytes: (Int) -> Data?) {
        for k in f.chunks {
            control.send(.control(.chunkData(ChunkData(job: f.job, opSeq: f.opSeq, rank: rank, chunks: [k],
                                                       bytes: [bytes(k) ?? Data()]))))
        }
    }
}

/// The interrupted operation is to run again whole, and the job has no tree left: the host ring runs it.
struct RestartOnRing: Error {
    var reason: String
}
