import TributaryCore
import Transport

/// The links of the host ring: to the next rank (send only) and from the previous (receive only).
struct RingLinks {
    var listener: (any FrameListener)?
    var next: (any FrameConnection)?
    var prev: (any FrameConnection)?
    /// Ring frames that arrived before the join finished.
    var early: [Frame] = []
}

/// The host ring among the workers, over the same transport as the fabric: the baseline that
/// in-network reduction is measured against and the fallback when no tree can serve a job.
/// Allreduce is reduce-scatter then all-gather (`RingSchedule`); reduce is an allreduce whose
/// result only the root keeps; broadcast is a pipeline from the root around the ring; a barrier
/// is an empty allreduce (2(n−1) steps carry every rank's arrival to every other); reduce-scatter
/// and all-gather are the allreduce's two halves.
extension Communicator {
    func runRing(_ call: Call, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?) async throws
        -> (sent: Int, received: Int) {
        if let why = ringBroken, worldSize > 1 {
            throw WorkerError.leafLost(leaf: "ring peer rank \((rank + worldSize - 1) % worldSize)", reason: why)
        }
        switch call.collective {
        case .broadcast: return try await ringBroadcast(call, send: send, recv: recv)
        case .reduceScatter: return try await ringReduceScatter(call, send: send, recv: recv)
        case .allGather: return try await ringAllGather(call, recv: recv)
        case .allreduce, .reduce, .barrier: break
        }
        let size = call.dtype.size
        // Work in the receive buffer (or scratch, for a reduce's non-roots); in place when possible.
        var scratch: UnsafeMutableRawPointer?
        let work: UnsafeMutableRawPointer?
        if call.count == 0 {
            work = nil
        } else if let recv, call.receives {
            work = recv
        } else {
            scratch = UnsafeMutableRawPointer.allocate(byteCount: call.count * size, alignment: 64)
            work = scratch
        }
        defer { scratch?.deallocate() }
        if let work, let send, UnsafeRawPointer(work) != send {
            work.copyMemory(from: send, byteCount: call.count * size)
        }
        let n = worldSize
        if n == 1 { return (0, 0) }
        let schedule = RingSchedule(count: call.count, ranks: n)
        let prev = (rank + n - 1) % n
        var sent = 0
        var received = 0
        let steps = 2 * (n - 1)
        for step in 0..<steps {
            let gather = step >= n - 1
            let s = gather ? step - (n - 1) : step
            let outgoing = gather ? schedule.allGatherSend(rank: rank, step: s)
                : schedule.reduceScatterSend(rank: rank, step: s)
            let incoming = gather ? schedule.allGatherSend(rank: prev, step: s)
                : schedule.reduceScatterSend(rank: prev, step: s)
            sent += sendSegment(call, schedule.range(ofSegment: outgoing), from: work.map { UnsafeRawPointer($0) },
                                step: step, steps: steps, flags: gather ? [.result] : [])
            received += try await receiveSegment(call, schedule.range(ofSegment: incoming), into: work, step: step,
                                                 fold: !gather)
        }
        return (sent, received)
    }

    /// Reduce-scatter: the allreduce's reduce-scatter half over the whole vector in scratch (segment
    /// j is block j, so the fold order is the allreduce's), after which rank r holds block r + 1
    /// complete; one more step hands each block to its owner, the next rank. n steps, each rank
    /// sending the vector once: half an allreduce's traffic.
    private func ringReduceScatter(_ call: Call, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?) async throws
        -> (sent: Int, received: Int) {
        let size = call.dtype.size
        let n = worldSize
        let block = call.root
        let work: UnsafeMutableRawPointer? = call.count > 0
            ? .allocate(byteCount: call.count * size, alignment: 64) : nil
        defer { work?.deallocate() }
        if let work, let send { work.copyMemory(from: send, byteCount: call.count * size) }
        var sent = 0
        var received = 0
        if n > 1 {
            let schedule = RingSchedule(count: call.count, ranks: n)
            let prev = (rank + n - 1) % n
            for step in 0..<(n - 1) {
                sent += sendSegment(call, schedule.range(ofSegment: schedule.reduceScatterSend(rank: rank, step: step)),
                                    from: work.map { UnsafeRawPointer($0) }, step: step, steps: n, flags: [])
                received += try await receiveSegment(
                    call, schedule.range(ofSegment: schedule.reduceScatterSend(rank: prev, step: step)), into: work,
                    step: step, fold: true)
            }
            sent += sendSegment(call, schedule.range(ofSegment: (rank + 1) % n), from: work.map { UnsafeRawPointer($0) },
                                step: n - 1, steps: n, flags: [.result])
            received += try await receiveSegment(call, schedule.range(ofSegment: rank), into: work, step: n - 1,
                                                 fold: false)
        }
        if block > 0, let recv, let work {
            recv.copyMemory(from: work + rank * block * size, byteCount: block * size)
        }
        return (sent, received)
    }

    /// All-gather: the allreduce's all-gather half, each rank starting with its own block (which
    /// `run` placed in `recv`) and forwarding what it received the step before. n − 1 steps.
    private func ringAllGather(_ call: Call, recv: UnsafeMutableRawPointer?) async throws -> (sent: Int, received: Int) {
        let n = worldSize
        guard n > 1 else { return (0, 0) }
        let schedule = RingSchedule(count: call.count, ranks: n)
        let prev = (rank + n - 1) % n
        let work = call.count > 0 ? recv : nil
        var sent = 0
        var received = 0
        for step in 0..<(n - 1) {
            sent += sendSegment(call, schedule.range(ofSegment: schedule.reduceScatterSend(rank: rank, step: step)),
                                from: work.map { UnsafeRawPointer($0) }, step: step, steps: n - 1, flags: [.result])
            received += try await receiveSegment(
                call, schedule.range(ofSegment: schedule.reduceScatterSend(rank: prev, step: step)), into: work,
                step: step, fold: false)
        }
        return (sent, received)
    }

    /// Sends a segment to the next rank in chunk-sized pieces (one empty piece for an empty segment).
    private func sendSegment(_ call: Call, _ range: Range<Int>, from base: UnsafeRawPointer?, step: Int, steps: Int,
                             flags: ChunkHeader.Flags) -> Int {
        guard let next = ringNext else { return 0 }
        let size = call.dtype.size
        let per = assignment.streaming.chunkElements(call.dtype)
        var header = ChunkHeader(
            job: assignment.job, origin: UInt32(rank), opSeq: call.seq, totalCount: UInt64(call.count),
            elementOffset: UInt64(range.lowerBound), chunkIndex: UInt32(step), chunkCount: UInt32(max(1, steps)),
            elementCount: 0, collective: call.collective, dtype: call.dtype, op: call.op, flags: flags,
            root: UInt32(call.root), payloadLength: 0)
        var offset = range.lowerBound
        var bytes = 0
        repeat {
            let elements = min(per, range.upperBound - offset)
            header.elementOffset = UInt64(offset)
            header.elementCount = UInt32(elements)
            header.payloadLength = UInt32(elements * size)
            next.sendChunk(header, payload: UnsafeRawBufferPointer(
                start: elements == 0 ? nil : base! + offset * size, count: elements * size))
            bytes += elements * size
            offset += elements
        } while offset < range.upperBound
        return bytes
    }

    /// Receives the previous rank's pieces of `range` for `step`, folding (`local ⊕ received`) or
    /// copying them into `base`.
    private func receiveSegment(_ call: Call, _ range: Range<Int>, into base: UnsafeMutableRawPointer?, step: Int,
                                fold: Bool) async throws -> Int {
        let size = call.dtype.size
        var covered = 0
        var bytes = 0
        var sawPiece = false
        var lastProgress = ContinuousClock.now
        while covered < range.count || !sawPiece {
            guard let event = await nextEvent() else { throw WorkerError.coordinatorLost("event stream ended") }
            switch event {
            case .ring(.chunk(let h, let payload)):
                let lo = Int(h.elementOffset)
                let n = Int(h.elementCount)
                guard h.job == assignment.job, h.opSeq == call.seq, Int(h.chunkIndex) == step,
                      h.collective == call.collective, h.dtype == call.dtype, h.op == call.op,
                      h.totalCount == UInt64(call.count), lo >= range.lowerBound, lo + n <= range.upperBound else {
                    throw WorkerError.protocolViolation(
                        "rank \(rank): ring piece from rank \(h.origin) does not match step \(step) of op #\(call.seq) "
                        + "(\(call.collective) \(call.dtype) \(call.op) count \(call.count), elements \(range)): \(h)")
                }
                sawPiece = true
                if n > 0, let base {
                    let at = base + lo * size
                    payload.withUnsafeBytes { src in
                        if fold {
                            Reduction.combine(call.op, call.dtype, into: at, from: src.baseAddress!, count: n)
                        } else {
                            at.copyMemory(from: src.baseAddress!, byteCount: src.count)
                        }
                    }
                }
                covered += n
                bytes += payload.count
                lastProgress = ContinuousClock.now
            case .tick:
                if ContinuousClock.now - lastProgress > configuration.operationTimeout {
                    throw WorkerError.timeout("rank \(rank) op #\(call.seq) ring step \(step): nothing from rank "
                        + "\((rank + worldSize - 1) % worldSize) for \(configuration.operationTimeout) "
                        + "(\(covered) of \(range.count) elements)")
                }
            default:
                try handleOther(event, ringNeeded: true)
            }
        }
        return bytes
    }

    /// Pipelined broadcast: the root streams chunks to the next rank; every other rank stores
    /// each chunk and forwards it, except to the root.
    private func ringBroadcast(_ call: Call, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?) async throws
        -> (sent: Int, received: Int) {
        let size = call.dtype.size
        let n = worldSize
        if let recv, let send, rank == call.root, call.count > 0, UnsafeRawPointer(recv) != send {
            recv.copyMemory(from: send, byteCount: call.count * size)
        }
        if n == 1 { return (0, 0) }
        let whole = 0..<call.count
        if rank == call.root {
            return (sendSegment(call, whole, from: send, step: 0, steps: 1, flags: [.result]), 0)
        }
        let forwards = (rank + 1) % n != call.root
        let per = assignment.streaming.chunkElements(call.dtype)
        var covered = 0
        var sent = 0
        var received = 0
        var sawPiece = false
        var lastProgress = ContinuousClock.now
        while covered < call.count || !sawPiece {
            guard let event = await nextEvent() else { throw WorkerError.coordinatorLost("event stream ended") }
            switch event {
            case .ring(.chunk(let h, let payload)):
                let lo = Int(h.elementOffset)
                let count = Int(h.elementCount)
                guard h.job == assignment.job, h.opSeq == call.seq, h.collective == .broadcast,
                      h.dtype == call.dtype, h.totalCount == UInt64(call.count), h.root == UInt32(call.root),
                      lo + count <= call.count, count <= per else {
                    throw WorkerError.protocolViolation("rank \(rank): broadcast piece does not match op #\(call.seq): \(h)")
                }
                sawPiece = true
                if count > 0, let recv {
                    payload.withUnsafeBytes { (recv + lo * size).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
                if forwards, let next = ringNext {
                    var forward = h
                    forward.origin = UInt32(rank)
                    payload.withUnsafeBytes { next.sendChunk(forward, payload: $0) }
                    sent += payload.count
                }
                covered += count
                received += payload.count
                lastProgress = ContinuousClock.now
            case .tick:
                if ContinuousClock.now - lastProgress > configuration.operationTimeout {
                    throw WorkerError.timeout("rank \(rank) op #\(call.seq) ring broadcast: stalled at \(covered) of "
                        + "\(call.count) elements")
                }
            default:
                try handleOther(event, ringNeeded: true)
            }
        }
        return (sent, received)
    }
}
