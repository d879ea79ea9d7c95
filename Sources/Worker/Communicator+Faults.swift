import Transport
import TributaryCore

extension Communicator {
    /// What became of a chunk offered to the fault hook.
    enum FaultedSend {
        /// No fault touches it and no delay line holds the link: send it as usual.
        case untouched
        /// Not sent (a `drop` fault).
        case dropped
        /// Sent as the hook said: corrupted, later through the delay line, or both.
        case sent
    }

    /// Offers the chunk `header` (payload in the caller's memory) for the leaf to the fault hook, as
    /// sent from topology host `host`. A corrupted payload is a copy: the application's buffer — the
    /// input the coordinator's replay regenerates — stays as it was, so validation sees the damage.
    func injectFaults(_ faults: any FaultHook, from host: String, header: ChunkHeader,
                      payload: UnsafeRawBufferPointer) -> FaultedSend {
        let fault = faults.frameFault(from: host, to: assignment.leaf, job: configuration.jobName,
                                      opSeq: header.opSeq, chunk: header.chunkIndex, payloadBytes: payload.count)
        guard !fault.isNone || leafDelayLine != nil, let data = leafConnection else { return .untouched }
        let what = "op #\(header.opSeq) chunk \(header.chunkIndex) to \(assignment.leaf)"
        if fault.drop {
            logger.notice("fault injection: rank \(rank) dropped \(what)")
            return .dropped
        }
        if fault.corruption != nil { logger.notice("fault injection: rank \(rank) corrupted \(what)") }
        let frame = Frame.chunk(header, payload: fault.corrupted(Array(payload)))
        if fault.delay > .zero || leafDelayLine != nil {
            let line = leafDelayLine ?? FrameDelayLine(data)
            leafDelayLine = line
            line.send(frame, after: fault.delay)
        } else {
            data.send(frame)
        }
        return .sent
    }
}
