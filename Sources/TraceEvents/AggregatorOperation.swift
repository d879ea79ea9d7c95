/// What one aggregator saw of one operation, gathered from its chunk events: the operation's
/// span at this switch runs from the first contribution that arrived to the last chunk it sent,
/// and says which child's contributions came last — the link that held the switch up. Kept until
/// the job's next operation reaches the switch or the job ends.
struct AggregatorOperation {
    let job: UInt32
    let op: UInt64
    let start: Int64
    private(set) var lastSend: Int64?
    private(set) var lastEvent: Int64
    private(set) var arrivals = 0
    private(set) var bytesIn = 0
    private(set) var folds = 0
    private(set) var longestWait: Int64 = 0
    private(set) var sentUp = 0
    private(set) var bytesUp = 0
    private(set) var sentDown = 0
    private(set) var bytesDown = 0
    private(set) var results = 0
    /// When each child's latest contribution arrived.
    private(set) var lastArrival: [String: Int64] = [:]

    init(job: UInt32, op: UInt64, start: Int64) {
        self.job = job
        self.op = op
        self.start = start
        lastEvent = start
    }

    /// The span ends at the last send; before any, at the latest event.
    var end: Int64 { lastSend ?? lastEvent }

    mutating func arrival(from child: String, bytes: Int, at time: Int64) {
        arrivals += 1
        bytesIn += bytes
        lastArrival[child] = time
        lastEvent = max(lastEvent, time)
    }

    mutating func fold(waited: Int64, at time: Int64) {
        folds += 1
        longestWait = max(longestWait, waited)
        lastEvent = max(lastEvent, time)
    }

    mutating func send(_ up: Bool, bytes: Int, at time: Int64) {
        if up {
            sentUp += 1
            bytesUp += bytes
        } else {
            sentDown += 1
            bytesDown += bytes
        }
        lastSend = max(lastSend ?? time, time)
        lastEvent = max(lastEvent, time)
    }

    mutating func result(at time: Int64) {
        results += 1
        lastEvent = max(lastEvent, time)
    }

    /// The child whose last contribution came latest, and by how much after the child that finished first.
    var lastChild: (name: String, lag: Int64)? {
        guard let latest = lastArrival.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }),
              let earliest = lastArrival.values.min() else { return nil }
        return (latest.key, latest.value - earliest)
    }

    /// The span on lane `tid`; `open` when the job has not ended yet (the file was written mid-run).
    func span(tid: Int, open: Bool) -> TraceEvent {
        var args: [(String, TraceValue)] = [
            ("job", .int(Int(job))), ("op", .int(Int(op))), ("arrivals", .int(arrivals)), ("bytes_in", .int(bytesIn)),
            ("folds", .int(folds)), ("longest_slot_wait_us", .double(Double(longestWait) / 1000)),
            ("sent_up", .int(sentUp)), ("bytes_up", .int(bytesUp)), ("results", .int(results)),
            ("sent_down", .int(sentDown)), ("bytes_down", .int(bytesDown)),
        ]
        if let last = lastChild {
            args += [("last_child", .string(last.name)), ("last_child_lag_us", .double(Double(last.lag) / 1000))]
        }
        if open { args.append(("open", .bool(true))) }
        return TraceEvent(.complete, name: "operation \(op)", category: "operation", tid: tid, time: start,
                          duration: end - start, args: args)
    }
}
