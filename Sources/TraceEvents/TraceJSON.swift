/// The text of a trace file, written by hand rather than by JSONEncoder: a process may hold
/// hundreds of thousands of events, and rewrites its file every few seconds.
///
/// The layout is fixed so `TraceMerger` can merge files without parsing them: the envelope's
/// opening on the first line, one event per line, each starting `{"pid":P,"tid":T,`, and the
/// envelope's end on the last line. Strings are escaped, so no event spans two lines.
enum TraceJSON {
    static let opening = Array("{\"traceEvents\":[\n".utf8)
    static let separator = Array(",\n".utf8)
    static let closing = Array("\n],\"displayTimeUnit\":\"ms\"}\n".utf8)

    private static let pidKey = Array("{\"pid\":".utf8)
    private static let tidKey = Array(",\"tid\":".utf8)
    private static let phaseKey = Array(",\"ph\":\"".utf8)
    private static let nameKey = Array("\",\"name\":".utf8)
    private static let categoryKey = Array(",\"cat\":".utf8)
    private static let timeKey = Array(",\"ts\":".utf8)
    private static let durationKey = Array(",\"dur\":".utf8)
    private static let threadScope = Array(",\"s\":\"t\"".utf8)
    private static let argsKey = Array(",\"args\":{".utf8)

    /// `event` as one line (without separator), in process `pid`. Written byte by byte, without
    /// a String per number: a flush encodes up to hundreds of thousands of events.
    static func append(_ event: TraceEvent, pid: Int32, to out: inout [UInt8]) {
        out.append(contentsOf: pidKey)
        appendInteger(Int64(pid), to: &out)
        out.append(contentsOf: tidKey)
        appendInteger(Int64(event.tid), to: &out)
        out.append(contentsOf: phaseKey)
        out.append(event.phase.byte)
        out.append(contentsOf: nameKey)
        appendString(event.name, to: &out)
        if let category = event.category {
            out.append(contentsOf: categoryKey)
            appendString(category, to: &out)
        }
        if event.phase != .metadata {
            out.append(contentsOf: timeKey)
            appendMicroseconds(event.time, to: &out)
        }
        if let duration = event.duration {
            out.append(contentsOf: durationKey)
            appendMicroseconds(max(0, duration), to: &out)
        }
        if event.phase == .instant {
            // Thread scope: the mark sits on its lane.
            out.append(contentsOf: threadScope)
        }
        if !event.args.isEmpty {
            out.append(contentsOf: argsKey)
            for (index, (key, value)) in event.args.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Nanoseconds as microseconds with three decimals, exactly (no floating point on the way).
    static func appendMicroseconds(_ nanoseconds: Int64, to out: inout [UInt8]) {
        let magnitude = nanoseconds.magnitude
        if nanoseconds < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(magnitude / 1000, to: &out)
        let fraction = magnitude % 1000
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude, to: &out)
    }

    /// The decimal digits of `value`.
    private static func appendDigits(_ value: UInt64, to out: inout [UInt8]) {
        let start = out.count
        var rest = value
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        out[start...].reverse()
    }

    static func appendValue(_ value: TraceValue, to out: inout [UInt8]) {
        switch value {
        case .int(let n): appendInteger(Int64(n), to: &out)
        case .double(let d): out.append(contentsOf: (d.isFinite ? "\(d)" : "null").utf8)
        case .string(let s): appendString(s, to: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (so never a raw newline).
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
