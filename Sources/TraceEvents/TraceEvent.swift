/// A value in an event's `args` (what Perfetto shows in the details of a slice).
public enum TraceValue: Sendable, Equatable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
}

/// One Chrome trace event (the format chrome://tracing and Perfetto read): a span, a mark, a
/// counter value or a name for a process or lane. Times are wall-clock nanoseconds (`TraceClock`);
/// the file says microseconds, which the writer converts.
public struct TraceEvent: Sendable {
    public enum Phase: String, Sendable {
        /// A span with a start and a duration ("X").
        case complete = "X"
        /// A mark at one moment, on its lane ("i").
        case instant = "i"
        /// A counter's value from this moment on ("C").
        case counter = "C"
        /// A name or an order for a process or a lane ("M").
        case metadata = "M"

        /// The phase's one letter.
        var byte: UInt8 {
            switch self {
            case .complete: return UInt8(ascii: "X")
            case .instant: return UInt8(ascii: "i")
            case .counter: return UInt8(ascii: "C")
            case .metadata: return UInt8(ascii: "M")
            }
        }
    }

    public var phase: Phase
    public var name: String
    public var category: String?
    /// The lane (the trace format's thread id) within the process.
    public var tid: Int
    /// Start, in nanoseconds since the epoch (unused by metadata).
    public var time: Int64
    /// Length in nanoseconds (spans only).
    public var duration: Int64?
    public var args: [(String, TraceValue)]

    public init(_ phase: Phase, name: String, category: String? = nil, tid: Int, time: Int64 = 0,
                duration: Int64? = nil, args: [(String, TraceValue)] = []) {
        self.phase = phase
        self.name = name
        self.category = category
        self.tid = tid
        self.time = time
        self.duration = duration
        self.args = args
    }
}
