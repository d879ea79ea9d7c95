import TributaryCore

/// A chunk-level event as the data path records it: the few numbers it needs, resolved to its
/// lane. Its name and arguments are made only when the file is written, off the data path.
struct ChunkRecord {
    enum Kind {
        /// A child's contribution arrived (`peer`: the child).
        case arrival
        /// Every contribution folded; `time` is when the slot opened, `duration` how long it stayed open.
        case fold(contributions: Int, duration: Int64)
        /// A chunk left for `peer`.
        case send(DataPlaneEvent.Direction)
        /// A result chunk arrived from `peer`.
        case result
        /// The job's slots in use changed to `slots`.
        case slots(slots: Int, jobName: String)
    }

    var kind: Kind
    var tid: Int
    var time: Int64
    var op: UInt64
    var chunk: UInt32
    var peer: String
    var bytes: Int

    var event: TraceEvent {
        let position: [(String, TraceValue)] = [("op", .int(Int(op))), ("chunk", .int(Int(chunk)))]
        switch kind {
        case .arrival:
            return TraceEvent(.instant, name: "chunk from \(peer)", category: "chunk", tid: tid, time: time,
                              args: position + [("from", .string(peer)), ("bytes", .int(bytes))])
        case .fold(let contributions, let duration):
            return TraceEvent(.complete, name: "fold", category: "chunk", tid: tid, time: time, duration: duration,
                              args: position + [("contributions", .int(contributions)),
                                              ("waited_us", .double(Double(duration) / 1000))])
        case .send(let direction):
            return TraceEvent(.instant, name: "send \(direction.rawValue) to \(peer)", category: "chunk", tid: tid,
                              time: time, args: position + [("to", .string(peer)), ("bytes", .int(bytes))])
        case .result:
            return TraceEvent(.instant, name: "result from \(peer)", category: "chunk", tid: tid, time: time,
                              args: position + [("from", .string(peer)), ("bytes", .int(bytes))])
        case .slots(let slots, let jobName):
            // Perfetto names a counter's track by the event's name and the argument's: "job NAME slots in use".
            return TraceEvent(.counter, name: "job \(jobName)", category: "slots", tid: tid, time: time,
                              args: [("slots in use", .int(slots))])
        }
    }
}
