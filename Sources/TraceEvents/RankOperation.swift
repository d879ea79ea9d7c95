import TributaryCore

/// A rank's collective as its communicator reported it: started (what was called), and once it
/// returned, how it ended. Its span runs from the call to the return.
struct RankOperation {
    /// How the collective ended.
    struct Ending {
        var end: Int64
        var bytesSent: Int
        var bytesReceived: Int
        var seconds: Double
        var failure: String?
    }

    var job: UInt32
    var op: UInt64
    var rank: Int
    var start: Int64
    var collective: Collective
    var algorithm: Algorithm
    /// What was called: nil when only the end was heard (its start was past the limit of an earlier trace).
    var call: (dtype: DType, count: Int)?
    var ending: Ending?

    /// The span on lane `tid`, ending at `now` while the collective is under way (marked `open`).
    func span(tid: Int, now: Int64) -> TraceEvent {
        var args: [(String, TraceValue)] = [
            ("rank", .int(rank)), ("job", .int(Int(job))), ("op", .int(Int(op))),
            ("collective", .string("\(collective)")), ("algorithm", .string(algorithm.rawValue)),
        ]
        var name = "\(collective)"
        if let call {
            let bytes = call.count * call.dtype.size
            name += " \(TopologyUnits.formatSize(bytes))"
            args += [("dtype", .string(call.dtype.name)), ("count", .int(call.count)), ("bytes", .int(bytes))]
        }
        if let ending {
            args += [("bytes_sent", .int(ending.bytesSent)), ("bytes_received", .int(ending.bytesReceived)),
                     ("seconds", .double(ending.seconds))]
            if let failure = ending.failure { args.append(("failure", .string(failure))) }
        } else {
            args.append(("open", .bool(true)))
        }
        let end = ending?.end ?? now
        return TraceEvent(.complete, name: name, category: "operation", tid: tid, time: start, duration: end - start,
                          args: args)
    }
}

/// An operation-level event as recorded: a finished span at a rank or a switch, or a job's mark.
/// Its name and arguments are made when the file is written, off the data path.
enum OperationRecord {
    case rank(RankOperation, tid: Int)
    case aggregator(AggregatorOperation, tid: Int)
    case mark(TraceEvent)

    var event: TraceEvent {
        switch self {
        case .rank(let operation, let tid): return operation.span(tid: tid, now: 0)
        case .aggregator(let operation, let tid): return operation.span(tid: tid, open: false)
        case .mark(let event): return event
        }
    }
}
